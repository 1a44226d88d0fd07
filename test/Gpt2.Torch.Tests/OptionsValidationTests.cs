using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Parameter = TorchSharp.Modules.Parameter;

namespace Gpt2.Torch.Tests;

/// <summary>Every numeric option refuses NaN, infinities and out-of-range values, naming the option and the allowed range.</summary>
[TestClass]
public sealed class OptionsValidationTests
{
    private static readonly double[] NonFinite = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    private static void Refused(Action validate, string option, string range)
    {
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(validate);
        StringAssert.Contains(error.Message, option);
        StringAssert.Contains(error.Message, range);
    }

    [TestMethod]
    public void LearningRatesMustBeFiniteAndPositive()
    {
        foreach (double bad in (double[])[.. NonFinite, 0, -1e-4])
        {
            Refused(() => new SequenceClassificationOptions { LearningRate = bad }.Validate(), "LearningRate", "a finite number above 0");
            Refused(() => new InstructionTuningOptions { LearningRate = bad }.Validate(), "LearningRate", "a finite number above 0");
            Refused(() => new LanguageModelTrainingOptions { LearningRate = bad }.Validate(), "LearningRate", "a finite number above 0");
            Refused(() => LearningRateSchedule.Constant(bad).Validate(), "PeakLearningRate", "a finite number above 0");
        }
        foreach (double bad in (double[])[.. NonFinite, -1e-6])
        {
            Refused(() => new LearningRateSchedule { MinimumLearningRate = bad, DecaySteps = 10 }.Validate(), "MinimumLearningRate", "0 or above");
            Refused(() => new LanguageModelTrainingOptions { MinimumLearningRate = bad, CosineDecay = true }.Validate(), "MinimumLearningRate", "0 or above");
        }
        Refused(() => new LanguageModelTrainingOptions { WarmupSteps = -1 }.Validate(), "WarmupSteps", "at least 0");
    }

    [TestMethod]
    public void WeightDecayMustBeFiniteAndNotNegative()
    {
        foreach (double bad in (double[])[.. NonFinite, -0.1])
        {
            Refused(() => new SequenceClassificationOptions { WeightDecay = bad }.Validate(), "WeightDecay", "0 or above");
            Refused(() => new LanguageModelTrainingOptions { WeightDecay = bad }.Validate(), "WeightDecay", "0 or above");
        }
        new SequenceClassificationOptions { WeightDecay = 0 }.Validate();
    }

    [TestMethod]
    public void GradientNormsMustBeFiniteAndPositive()
    {
        foreach (double bad in (double[])[.. NonFinite, 0, -1])
        {
            Refused(() => new SequenceClassificationOptions { MaxGradientNorm = bad }.Validate(), "MaxGradientNorm", "a finite number above 0");
            Refused(() => new LanguageModelTrainingOptions { MaxGradientNorm = bad }.Validate(), "MaxGradientNorm", "a finite number above 0");
            Refused(() => GradientClipping.ClipGlobalNorm(Array.Empty<Parameter>(), bad), "maxNorm", "a finite number above 0");
        }
    }

    [TestMethod]
    public void AdamWRefusesNonFiniteHyperparameters()
    {
        foreach (double bad in (double[])[.. NonFinite, -1])
        {
            Refused(() => new AdamW([], learningRate: bad), "LearningRate", "0 or above");
            Refused(() => new AdamW([], weightDecay: bad), "weightDecay", "0 or above");
            Refused(() => new AdamW([], epsilon: bad), "epsilon", "0 or above");
        }
        foreach (double bad in (double[])[.. NonFinite, -0.1, 1])
        {
            Refused(() => new AdamW([], beta1: bad), "beta1", "in [0, 1)");
            Refused(() => new AdamW([], beta2: bad), "beta2", "in [0, 1)");
        }
        using var optimizer = new AdamW([]);
        Refused(() => optimizer.LearningRate = double.NaN, "LearningRate", "0 or above");
    }

    [TestMethod]
    public void LoRAAlphaMustBeFiniteAndNotZero()
    {
        foreach (double bad in (double[])[.. NonFinite, 0])
        {
            Refused(() => new LoRAOptions { Alpha = bad }.Validate(), "Alpha", "a finite number other than 0");
            Refused(() => new SequenceClassificationOptions { LoRA = new LoRAOptions { Alpha = bad } }.Validate(), "Alpha", "a finite number other than 0");
        }
    }

    [TestMethod]
    public void SamplingOptionsMustBeInRange()
    {
        foreach (double bad in (double[])[.. NonFinite, -0.5])
        {
            Refused(() => new GenerationOptions { Temperature = bad }.Validate(), "Temperature", "0 or above");
            Refused(() => new LanguageModelTrainingOptions { SampleGeneration = new GenerationOptions { Temperature = bad } }.Validate(), "Temperature", "0 or above");
        }
        foreach (double bad in (double[])[.. NonFinite, 0, -0.1, 1.01])
            Refused(() => new GenerationOptions { TopP = bad }.Validate(), "TopP", "in (0, 1]");
        foreach (int bad in (int[])[0, -3])
        {
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { TopK = bad }.Validate());
            StringAssert.Contains(error.Message, "TopK");
            StringAssert.Contains(error.Message, "at least 1");
        }
        new GenerationOptions { Temperature = 0.7, TopP = 1, TopK = 1 }.Validate();
    }
}
