using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The foundation the ML.NET components stand on: ML.NET reads the SMS data the way the spam sample will
/// (TextLoader, tab separated, no quoting), and GPT-2 on TorchSharp runs in the same process as ML.NET.
/// </summary>
[TestClass]
public sealed class SmsDataThroughMLNetTests
{
    private sealed class SmsRow
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string Text { get; set; } = "";
    }

    private static List<SmsRow> LoadSms()
    {
        var context = new MLContext(seed: 0);
        IDataView data = context.Data.LoadFromTextFile<SmsRow>(
            Path.Combine(AppContext.BaseDirectory, "Data", "SMSSpamCollection"), separatorChar: '\t', hasHeader: false, allowQuoting: false);
        return [.. context.Data.CreateEnumerable<SmsRow>(data, reuseRowObject: false)];
    }

    [TestMethod]
    public void TextLoaderReadsEveryMessageWithItsLabel()
    {
        List<SmsRow> rows = LoadSms();
        Assert.AreEqual(5574, rows.Count);
        Assert.AreEqual(747, rows.Count(r => r.Label == "spam"));
        Assert.AreEqual(4827, rows.Count(r => r.Label == "ham"));
    }

    [TestMethod]
    public void MessagesReadByMLNetTokenizeAsOpenAisAndRunThroughGpt2()
    {
        var openAi = SharpToken.GptEncoding.GetEncoding("r50k_base");
        List<SmsRow> rows = LoadSms();
        foreach (SmsRow row in rows)
            CollectionAssert.AreEqual(openAi.Encode(row.Text), Gpt2Tokenizer.Default.Encode(row.Text), row.Text);

        using var scope = NewDisposeScope();
        using var model = new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 1 }, CPU);
        model.eval();
        int[] ids = Gpt2Tokenizer.Default.Encode(rows[0].Text);
        Tensor logits = model.Forward(tensor(ids.Select(i => (long)i).ToArray(), int64).unsqueeze(0));
        CollectionAssert.AreEqual(new long[] { 1, ids.Length, 50257 }, logits.shape);
    }
}
