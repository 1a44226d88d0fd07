using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;
using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2.Instructions;

/// <summary>
/// An instruction-tuned GPT-2, fitted by <see cref="Gpt2InstructionTuner"/>: formats each row's instruction and context
/// with the prompt format it was trained with and adds the generated response (the text after the prompt, up to
/// <c>&lt;|endoftext|&gt;</c>, trimmed). <c>mlContext.Model.Save</c> stores it as a chain of ML.NET's own transformers
/// (the prompt format as an expression, tokenization, ONNX Runtime's GreedySearch, detokenization).
/// </summary>
public sealed class Gpt2InstructionTransformer : ITransformer, IDisposable
{
    private readonly MLContext _mlContext;
    private readonly TextGenerationMapper _mapper;

    internal Gpt2InstructionTransformer(MLContext mlContext, TextGenerationEngine engine, InstructionPromptFormat format,
        string instructionColumnName, string contextColumnName, string outputColumnName)
    {
        _mlContext = mlContext;
        PromptFormat = format;
        _mapper = new TextGenerationMapper(mlContext, engine, [instructionColumnName, contextColumnName], outputColumnName,
            row => format.FormatPrompt(Gpt2InstructionTuner.RequireInstruction(row[0], instructionColumnName), row[1]), trim: true);
    }

    /// <summary>
    /// The service that writes this transformer's text, owned by the transformer, to use the model from other front ends
    /// beside the transformer: for example Gpt2MLNet.AI's chat client,
    /// <c>new Gpt2ChatClient(transformer.GenerationService, ChatPromptFormat.FromInstructionFormat(transformer.PromptFormat))</c>. Its requests and the transformer's batches share
    /// one running batch on its host (<see cref="Gpt2TextGenerationService.Host"/>), which an embedding generator can share too.
    /// </summary>
    public Gpt2TextGenerationService GenerationService => _mapper.Engine.Service;

    /// <summary>The fine-tuned model.</summary>
    public CausalLanguageModel Model => _mapper.Engine.Model;

    /// <summary>How instructions and inputs become prompts.</summary>
    public InstructionPromptFormat PromptFormat { get; }

    /// <summary>The instruction column read.</summary>
    public string InstructionColumnName => _mapper.SourceColumnNames[0];

    /// <summary>The context column read (the Alpaca format's input; may hold empty texts).</summary>
    public string ContextColumnName => _mapper.SourceColumnNames[1];

    /// <summary>The generated-response column added.</summary>
    public string OutputColumnName => _mapper.OutputColumnName;

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapper.GetOutputSchema(inputSchema);

    /// <summary>The input with the response column; rows are generated lazily, a batch at a time, as a cursor reaches them.</summary>
    public IDataView Transform(IDataView input) => _mapper.Transform(input);

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapper.GetRowToRowMapper(inputSchema);

    /// <summary>Writes the ML.NET chain this model saves as; only greedy generation without stop strings can be saved.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        _mapper.Save(ctx, _mlContext.Transforms.Expression(PromptToTokenIdsInput.PromptColumnName, PromptFormatExpression.Create(PromptFormat),
            InstructionColumnName, ContextColumnName));

    /// <inheritdoc />
    public void Dispose() => _mapper.Dispose();
}
