using Gpt2.Torch.Training;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class LearningRateScheduleTests
{
    [TestMethod]
    public void WarmupRisesLinearlyThenTheCosineFallsToTheMinimum()
    {
        var schedule = new LearningRateSchedule { PeakLearningRate = 1e-3, WarmupSteps = 10, DecaySteps = 110, MinimumLearningRate = 1e-4 };
        schedule.Validate();
        (long Step, double Rate)[] expected =
        [
            (0, 1e-4), (4, 5e-4), (9, 1e-3), // peak x (s + 1) / 10
            (10, 1e-3), // the cosine starts at the peak
            (35, 1e-4 + 9e-4 * 0.5 * (1 + Math.Cos(Math.PI / 4))),
            (60, 5.5e-4), // halfway: the mean of peak and minimum
            (110, 1e-4), (500, 1e-4), // the minimum, and it stays there
        ];
        foreach ((long step, double rate) in expected)
            Assert.AreEqual(rate, schedule.LearningRateAt(step), 1e-12, $"step {step}");
    }

    [TestMethod]
    public void WithoutWarmupOrDecayTheRateIsConstant()
    {
        var schedule = LearningRateSchedule.Constant(4e-4);
        foreach (long step in new long[] { 0, 1, 1000, 1_000_000 })
            Assert.AreEqual(4e-4, schedule.LearningRateAt(step));
        Assert.AreEqual(2e-4, new LearningRateSchedule { PeakLearningRate = 4e-4, WarmupSteps = 4 }.LearningRateAt(1), 1e-15);
        Assert.AreEqual(4e-4, new LearningRateSchedule { PeakLearningRate = 4e-4, WarmupSteps = 4 }.LearningRateAt(99));
    }

    [TestMethod]
    public void ImpossibleSchedulesAreRejected()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new LearningRateSchedule { WarmupSteps = 10, DecaySteps = 10 }.Validate());
        Assert.ThrowsExactly<ArgumentException>(() => new LearningRateSchedule { PeakLearningRate = 1e-4, MinimumLearningRate = 1e-3, DecaySteps = 10 }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule { PeakLearningRate = -1 }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LearningRateSchedule.Constant(1e-3).LearningRateAt(-1));
    }
}
