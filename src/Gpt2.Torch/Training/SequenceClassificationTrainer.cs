using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Training;

/// <summary>
/// Fine-tunes a <see cref="Gpt2SequenceClassifier"/> with cross-entropy and AdamW (the book's chapter 6). Each batch
/// is padded only to its own longest sequence, which gives the same results as padding to a global maximum.
/// </summary>
public sealed class SequenceClassificationTrainer
{
    private readonly Gpt2SequenceClassifier _model;
    private readonly SequenceClassificationOptions _options;

    /// <summary>Creates a trainer for <paramref name="model"/>; set its trainable layers first (or <see cref="FineTuningOptions.LoRA"/>).</summary>
    public SequenceClassificationTrainer(Gpt2SequenceClassifier model, SequenceClassificationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _model = model;
        _options = options;
    }

    /// <summary>Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> when given.</summary>
    /// <param name="train">Training sequences; a last batch smaller than the batch size is dropped each epoch (as the book does) unless it is the only one.</param>
    /// <param name="validation">Sequences to evaluate on, or null.</param>
    /// <param name="onStep">Called after every step, on the training thread; it may throw to stop the run.</param>
    /// <param name="cancellationToken">Stops the run before the next step.</param>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public void Train(IReadOnlyList<ClassificationExample> train, IReadOnlyList<ClassificationExample>? validation = null,
        Action<ClassificationProgress>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        Validate(train, nameof(train));
        if (validation is not null)
            Validate(validation, nameof(validation));

        if (_options.LoRA is LoRAOptions lora)
            _model.SetTrainableLayers(TrainableLayers.LoRA, lora);
        if (!_model.parameters().Any(p => p.requires_grad))
            throw new InvalidOperationException("No parameter is trainable; choose trainable layers before training.");
        using var optimizer = new AdamW(_model.named_parameters(), _options.LearningRate, _options.WeightDecay);

        long seen = 0, correctSinceEvaluation = 0, countSinceEvaluation = 0;
        double lossSinceEvaluation = 0;
        int stepsSinceEvaluation = 0;
        foreach (FineTuningStep<ClassificationExample> step in FineTuningSchedule.Steps(train, _options, cancellationToken))
        {
            (double loss, long correct) = Step(optimizer, step.Rows);
            TrainingDivergedException.ThrowIfNotFinite(loss, step.Step, _options.LearningRate, "training loss");
            seen += step.Rows.Length;
            lossSinceEvaluation += loss;
            stepsSinceEvaluation++;
            correctSinceEvaluation += correct;
            countSinceEvaluation += step.Rows.Length;

            ClassificationEvaluation? evaluation = null;
            if (step.Evaluate)
            {
                (double Loss, double Accuracy)? measured = validation is null ? null : Evaluate(validation);
                if (measured is { Loss: var validationLoss })
                    TrainingDivergedException.ThrowIfNotFinite(validationLoss, step.Step, _options.LearningRate, "validation loss");
                evaluation = new ClassificationEvaluation(lossSinceEvaluation / stepsSinceEvaluation,
                    (double)correctSinceEvaluation / countSinceEvaluation, measured?.Loss, measured?.Accuracy);
                (lossSinceEvaluation, stepsSinceEvaluation, correctSinceEvaluation, countSinceEvaluation) = (0, 0, 0, 0);
            }
            onStep?.Invoke(new ClassificationProgress(step.Epoch, step.Step, step.TotalSteps, seen, loss, evaluation));
        }
        _model.eval();
    }

    /// <summary>Mean cross-entropy loss and accuracy of the model on <paramref name="examples"/>, in evaluation mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<ClassificationExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Validate(examples, nameof(examples));
        using var inference = new InferenceScope(_model);
        double lossSum = 0;
        long correct = 0;
        foreach (ClassificationExample[] chunk in examples.Chunk(_options.BatchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor logits, Tensor labels) = Forward(chunk);
            lossSum += F.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += (logits.argmax(-1) == labels).sum().item<long>();
        }
        return (lossSum / examples.Count, (double)correct / examples.Count);
    }

    private (double Loss, long Correct) Step(AdamW optimizer, ClassificationExample[] examples)
    {
        using var scope = NewDisposeScope();
        _model.train();
        optimizer.ZeroGrad();
        (Tensor logits, Tensor labels) = Forward(examples);
        Tensor loss = F.cross_entropy(logits, labels);
        loss.backward();
        if (_options.MaxGradientNorm is double maxNorm)
            GradientClipping.ClipGlobalNorm(_model.parameters().Where(p => p.requires_grad), maxNorm);
        optimizer.Step();
        long correct = (logits.argmax(-1) == labels).sum().item<long>();
        return (loss.item<float>(), correct);
    }

    private (Tensor Logits, Tensor Labels) Forward(IReadOnlyList<ClassificationExample> examples)
    {
        (Tensor ids, Tensor lengths) = RightPaddedBatch.Create([.. examples.Select(e => e.TokenIds)], _model.Transformer.Device, _model.PaddingId, _model.Transformer.Config.VocabSize);
        Tensor labels = tensor(examples.Select(e => (long)e.Label).ToArray(), int64, _model.Transformer.Device);
        return (_model.forward(ids, lengths), labels);
    }

    private void Validate(IReadOnlyList<ClassificationExample> examples, string name)
    {
        if (examples.Count == 0)
            throw new ArgumentException($"The {name} data holds no examples.", name);
        int context = _model.Transformer.Config.ContextLength;
        for (int i = 0; i < examples.Count; i++)
        {
            ClassificationExample example = examples[i];
            if (example.TokenIds.Length == 0)
                throw new ArgumentException($"{name} example {i} has no tokens; every text needs at least one.", name);
            if (example.TokenIds.Length > context)
                throw new ArgumentException($"{name} example {i} has {example.TokenIds.Length} tokens, more than the context length {context}; truncate it first.", name);
            if (example.Label < 0 || example.Label >= _model.ClassCount)
                throw new ArgumentException($"{name} example {i} has label {example.Label}, outside [0, {_model.ClassCount}).", name);
        }
    }
}
