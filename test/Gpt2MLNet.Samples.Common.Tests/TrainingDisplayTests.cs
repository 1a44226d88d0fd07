using System.Buffers.Binary;
using SkiaSharp;
using Gpt2.Torch.Tests;
using Gpt2.Torch.Training;

namespace Gpt2MLNet.Samples.Tests;

[TestClass]
public sealed class TrainingDisplayTests : TemporaryDirectoryTest
{
    private static readonly TrainingEvaluation[] Evaluations =
    [
        new(0, 1, 512, 9.7814, 9.9234, [1, 2]),
        new(5, 1, 3072, 8.1114, 8.3394, null),
        new(10, 2, 5632, 6.6614, 7.0484, null),
    ];

    [TestMethod]
    public void TheLossPlotIsAPngOfTheRequestedSizeWithBothCurvesFalling()
    {
        string path = Path.Combine(Directory, "plots", "loss.png");
        LossCurvePlot.Save(path, Evaluations, width: 640, height: 400);
        byte[] png = File.ReadAllBytes(path);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.AreEqual("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.AreEqual(640, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.AreEqual(400, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        Assert.ThrowsExactly<ArgumentException>(() => LossCurvePlot.Save(path, []));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => LossCurvePlot.Save(path, Evaluations, metric: "accuracy")).Message, "train_accuracy");

        // The pixels: two curves in two colours, bluish and orange (axes, text and grid are grey; anti-aliasing blends the
        // edges), each falling from left to right as the losses do.
        using SKBitmap bitmap = SKBitmap.Decode(png);
        var curves = new Dictionary<bool, List<(int X, int Y)>> { [true] = [], [false] = [] };
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor pixel = bitmap.GetPixel(x, y);
                if (Math.Max(pixel.Red, Math.Max(pixel.Green, pixel.Blue)) - Math.Min(pixel.Red, Math.Min(pixel.Green, pixel.Blue)) > 80)
                    curves[pixel.Blue > pixel.Red].Add((x, y));
            }
        Assert.IsTrue(curves.Values.All(points => points.Count > 150),
            $"two coloured curves: {curves[true].Count} bluish and {curves[false].Count} orange pixels");
        List<(int X, int Y)>[] lines = [.. curves.Values];
        foreach (List<(int X, int Y)> line in lines)
        {
            // Image rows grow downwards, so a falling loss has larger rows on the right (the legend, top right, is left out).
            double left = line.Where(p => p.X < bitmap.Width * 0.4).Average(p => p.Y);
            double right = line.Where(p => p.X > bitmap.Width * 0.6 && p.Y > bitmap.Height * 0.3).Average(p => p.Y);
            Assert.IsGreaterThan(left, right, "the curve falls from left to right");
        }
    }
}
