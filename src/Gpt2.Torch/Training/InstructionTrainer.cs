using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Instruction fine-tuning of a <see cref="Gpt2Model"/> (the book's chapter 7): batches collated by
/// <see cref="InstructionCollator"/>, next-token cross-entropy that skips <see cref="InstructionCollator.IgnoreIndex"/>
/// targets, and AdamW.
/// </summary>
public sealed class InstructionTrainer
{
    private readonly Gpt2Model _model;
    private readonly InstructionTuningOptions _options;
    private readonly InstructionCollator _collator;

    /// <summary>Creates a trainer for <paramref name="model"/>.</summary>
    public InstructionTrainer(Gpt2Model model, InstructionTuningOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.EndOfTextId < 0 || options.EndOfTextId >= model.Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(options), options.EndOfTextId,
                $"InstructionTuningOptions.EndOfTextId is outside the model's vocabulary [0, {model.Config.VocabSize}); set it to the model's end-of-text token.");
        _model = model;
        _options = options;
        _collator = new InstructionCollator(Math.Min(options.AllowedMaxLength, model.Config.ContextLength), options.MaskPrompt, options.EndOfTextId);
    }

    /// <summary>Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given.</summary>
    /// <param name="train">Training rows; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Rows to evaluate on, or null.</param>
    /// <param name="onStep">Called after every step, on the training thread; it may throw to stop the run.</param>
    /// <param name="cancellationToken">Stops the run before the next step.</param>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public void Train(IReadOnlyList<InstructionSequence> train, IReadOnlyList<InstructionSequence>? validation = null,
        Action<InstructionTuningProgress>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
            throw new ArgumentException("The training data holds no rows.", nameof(train));
        if (validation is { Count: 0 })
            throw new ArgumentException("The validation data holds no rows; pass null to train without validation.", nameof(validation));

        if (_options.LoRA is LoRAOptions lora)
            _model.AddLoRA(lora);
        using var optimizer = new AdamW(_model.named_parameters(), _options.LearningRate, _options.WeightDecay);

        long tokensSeen = 0;
        double lossSinceEvaluation = 0;
        int stepsSinceEvaluation = 0;
        foreach (FineTuningStep<InstructionSequence> step in FineTuningSchedule.Steps(train, _options, cancellationToken))
        {
            (double loss, long tokens) = Step(optimizer, step.Rows);
            TrainingDivergedException.ThrowIfNotFinite(loss, step.Step, _options.LearningRate, "training loss");
            tokensSeen += tokens;
            lossSinceEvaluation += loss;
            stepsSinceEvaluation++;

            double? trainLoss = null, validationLoss = null;
            if (step.Evaluate)
            {
                trainLoss = lossSinceEvaluation / stepsSinceEvaluation;
                validationLoss = validation is null ? null : Evaluate(validation);
                if (validationLoss is double measured)
                    TrainingDivergedException.ThrowIfNotFinite(measured, step.Step, _options.LearningRate, "validation loss");
                (lossSinceEvaluation, stepsSinceEvaluation) = (0, 0);
            }
            onStep?.Invoke(new InstructionTuningProgress(step.Epoch, step.Step, step.TotalSteps, tokensSeen, loss, trainLoss, validationLoss));
        }
        _model.eval();
    }

    /// <summary>Mean next-token loss over the non-ignored targets of <paramref name="rows"/>, in evaluation mode.</summary>
    public double Evaluate(IReadOnlyList<InstructionSequence> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            throw new ArgumentException("There are no rows to evaluate.", nameof(rows));
        using var inference = new InferenceScope(_model);
        double lossSum = 0;
        long targetCount = 0;
        foreach (InstructionSequence[] chunk in rows.Chunk(_options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor targets) = Forward(chunk);
            lossSum += F.cross_entropy(logits, targets, ignore_index: InstructionCollator.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
            targetCount += (targets != InstructionCollator.IgnoreIndex).sum().item<long>();
        }
        return lossSum / Math.Max(1, targetCount);
    }

    private (double Loss, long Tokens) Step(AdamW optimizer, InstructionSequence[] rows)
    {
        using var scope = NewDisposeScope();
        _model.train();
        optimizer.ZeroGrad();
        (Tensor logits, Tensor targets) = Forward(rows);
        Tensor loss = F.cross_entropy(logits, targets, ignore_index: InstructionCollator.IgnoreIndex);
        loss.backward();
        optimizer.Step();
        return (loss.item<float>(), targets.numel());
    }

    // Logits [rows x length, vocab] and targets [rows x length], flattened for cross-entropy.
    private (Tensor Logits, Tensor Targets) Forward(IReadOnlyList<InstructionSequence> rows)
    {
        (Tensor inputs, Tensor targets) = _collator.Collate(rows, _model.Device);
        return (_model.forward(inputs).flatten(0, 1), targets.flatten());
    }
}
