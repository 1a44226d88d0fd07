using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// The fine-tuning options the GPT-2 trainers here share (the classifier and the instruction tuner); each sets the
/// book's defaults for its task.
/// </summary>
public abstract class Gpt2FineTuningOptions : Gpt2ModelOptions
{
    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize = 8;

    /// <summary>Passes over the training data.</summary>
    public int MaxEpochs;

    /// <summary>AdamW's learning rate.</summary>
    public double LearningRate = 5e-5;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only.</summary>
    public double WeightDecay = 0.1;

    /// <summary>Evaluate every this many steps (and after the last one); 0 evaluates after each epoch only.</summary>
    public int EvaluationInterval;

    /// <summary>Data to evaluate on during training, with the same columns as the training data.</summary>
    public IDataView? ValidationSet;

    /// <summary>Seed of initialisation, shuffling and dropout.</summary>
    public int Seed = 123;

    /// <summary>Which layers train; <see cref="TrainableLayers.LoRA"/> trains low-rank adapters (the book's appendix E), folded into the weights after training.</summary>
    public TrainableLayers TrainableLayers;

    /// <summary>Inner dimension of the adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
    public int LoRARank = 16;

    /// <summary>
    /// Scale of the adapters' update when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>: the book's
    /// alpha x A B (not PEFT's alpha / rank x A B).
    /// </summary>
    public double LoRAAlpha = 16;

    /// <summary>Which linear layers of every block get adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
    public LoRATargets LoRATargets = LoRATargets.All;

    /// <summary>Seeds libtorch's generator with <see cref="Seed"/>, after checking for a backend so that a missing one is named.</summary>
    internal void SeedRandomness()
    {
        TorchBackend.EnsureAvailable();
        TorchSharp.torch.random.manual_seed(Seed);
    }

    /// <summary>These options as the core trainer's: the shared hyperparameters set on a <typeparamref name="TOptions"/> with its task's other defaults.</summary>
    internal TOptions ToTrainingOptions<TOptions>() where TOptions : FineTuningOptions, new()
    {
        var options = new TOptions
        {
            BatchSize = BatchSize,
            Epochs = MaxEpochs,
            LearningRate = LearningRate,
            WeightDecay = WeightDecay,
            EvaluationInterval = EvaluationInterval,
            Seed = Seed,
            LoRA = TrainableLayers == TrainableLayers.LoRA ? new LoRAOptions { Rank = LoRARank, Alpha = LoRAAlpha, Targets = LoRATargets } : null,
        };
        options.Validate();
        return options;
    }
}
