using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using System.Diagnostics;

namespace Gpt2.Torch.Model;

#pragma warning disable IDE1006 // field names are checkpoint names (Hugging Face's GPT2ForSequenceClassification)

/// <summary>
/// A language model of any family with a classification head (the book's chapter 6; Hugging Face's
/// <c>GPT2ForSequenceClassification</c>, <c>LlamaForSequenceClassification</c>): the final hidden state of each sequence's last real
/// token goes through a linear layer to one logit per class. Sequences are right-padded, so causal attention keeps
/// padding out of every real token's state, and batching changes no result.
/// </summary>
public sealed class Gpt2SequenceClassifier : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly CausalLanguageModel transformer;
    private readonly Linear score;

    /// <summary>Puts a new, randomly initialised head with <paramref name="classCount"/> outputs on <paramref name="transformer"/>.</summary>
    public Gpt2SequenceClassifier(CausalLanguageModel transformer, int classCount) : base("GPT2ForSequenceClassification")
    {
        ArgumentNullException.ThrowIfNull(transformer);
        OptionChecks.AtLeast(classCount, 2, nameof(classCount), "2, a classifier's fewest classes");
        this.transformer = transformer;
        score = nn.Linear(transformer.Config.EmbeddingSize, classCount);
        RegisterComponents();
        score.to(transformer.Device);
    }

    /// <summary>The language model body.</summary>
    public CausalLanguageModel Transformer => transformer;

    /// <summary>Number of classes.</summary>
    public int ClassCount => (int)score.weight!.shape[0];

    /// <summary>The head's weight [classes, embedding].</summary>
    public Tensor HeadWeight => score.weight!;

    /// <summary>The head's bias [classes].</summary>
    public Tensor HeadBias => score.bias!;

    /// <summary>
    /// The id right padding uses: the vocabulary's last id (GPT-2's <c>&lt;|endoftext|&gt;</c>, as in the book). No real token
    /// attends to padding, so any id gives the same result.
    /// </summary>
    internal int PaddingId => transformer.Config.VocabSize - 1;

    /// <summary>Class logits [batch, classes].</summary>
    /// <param name="inputIds">Right-padded token ids [batch, tokens], int64.</param>
    /// <param name="lengths">Real tokens per sequence [batch], int64, each in [1, tokens].</param>
    public override Tensor forward(Tensor inputIds, Tensor lengths)
    {
        Tensor hidden = transformer.ComputeHiddenStates(inputIds);
        long batch = hidden.shape[0], width = hidden.shape[2];
        Tensor last = (lengths.to(int64).to(hidden.device) - 1).view(batch, 1, 1).expand(batch, 1, width);
        return score.forward(hidden.gather(1, last).squeeze(1));
    }

    /// <summary>Class probabilities [sequences][classes], in evaluation mode, <paramref name="batchSize"/> sequences at a time.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A sequence holds an id outside the model's vocabulary; the message names it and the vocabulary size.</exception>
    public float[][] PredictProbabilities(IReadOnlyList<int[]> sequences, int batchSize = 8)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        OptionChecks.AtLeast(batchSize, 1, nameof(batchSize), "8");
        using var inference = new InferenceScope(this);
        var result = new List<float[]>(sequences.Count);
        foreach (int[][] chunk in sequences.Chunk(batchSize))
        {
            using var scope = NewDisposeScope();
            (Tensor ids, Tensor lengths) = Data.RightPaddedBatch.Create(chunk, transformer.Device, PaddingId, transformer.Config.VocabSize);
            float[] probabilities = softmax(forward(ids, lengths), -1).cpu().data<float>().ToArray();
            result.AddRange(probabilities.Chunk(ClassCount));
        }
        return [.. result];
    }

    /// <summary>Number of parameters training updates (those with <c>requires_grad</c>).</summary>
    public long TrainableParameterCount => parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>
    /// Freezes every parameter except those <paramref name="layers"/> names; the head always trains.
    /// <see cref="TrainableLayers.LoRA"/> adds adapters with <paramref name="lora"/> (by default the body's own, or
    /// <see cref="LoRAOptions"/>' defaults) unless the body has them already. With other values, adapters the body has
    /// count as part of their layers.
    /// </summary>
    public void SetTrainableLayers(TrainableLayers layers, LoRAOptions? lora = null)
    {
        OptionChecks.Defined(layers, nameof(layers));
        if (layers == TrainableLayers.LoRA)
            transformer.AddLoRA(lora ?? transformer.LoRA ?? new LoRAOptions());
        foreach ((string name, Parameter parameter) in named_parameters())
        {
            bool trainable = name.StartsWith("score.", StringComparison.Ordinal) || layers switch
            {
                TrainableLayers.All => true,
                TrainableLayers.LastBlock => name.StartsWith("transformer.", StringComparison.Ordinal) && transformer.IsLastBlockOrFinalNorm(name["transformer.".Length..]),
                TrainableLayers.HeadOnly => false,
                TrainableLayers.LoRA => CausalLanguageModel.IsAdapterParameter(name),
                _ => throw new UnreachableException(),
            };
            parameter.requires_grad = trainable;
        }
    }
}
