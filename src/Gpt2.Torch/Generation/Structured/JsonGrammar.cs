using System.Runtime.CompilerServices;
using System.Text;

namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// The grammar of one <see cref="StructuredOutput"/>: its prefix, its JSON document (the schema compiled by
/// <see cref="JsonSchemaCompiler"/>, or any object) and its suffix, as <see cref="GrammarRule"/>s checked to be usable
/// (no rule calls itself before reading a byte; rules that cannot end are pruned, so every live state can still
/// complete), and the lazily built recognizer over it. Grammars are compiled once per output and kept for the
/// <see cref="CacheCapacity"/> outputs used last.
/// </summary>
internal sealed class JsonGrammar
{
    /// <summary>How many grammars are kept compiled.</summary>
    public const int CacheCapacity = 16;

    private static readonly LruCache<string, JsonGrammar> Cache = new(CacheCapacity);
    private readonly ConditionalWeakTable<TokenTrie, TokenMasks> _masks = [];

    private JsonGrammar(GrammarRule root, List<GrammarRule> rules)
    {
        Root = root;
        Rules = rules;
        Automaton = new GrammarAutomaton(root);
    }

    public GrammarRule Root { get; }

    public IReadOnlyList<GrammarRule> Rules { get; }

    public GrammarAutomaton Automaton { get; }

    /// <summary>How many grammars are compiled and kept now.</summary>
    internal static int CachedCount => Cache.Count;

    /// <summary>The grammar of <paramref name="output"/>, compiled on first use.</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the supported subset (named with its place).</exception>
    /// <exception cref="ArgumentException">The schema is malformed or admits no document.</exception>
    public static JsonGrammar For(StructuredOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.Prefix is null || output.Suffix is null)
            throw new ArgumentException("StructuredOutput's Prefix and Suffix cannot be null; use \"\" for none.", nameof(output));
        string key = $"{output.JsonSchema?.GetRawText() ?? "any object"}\0{output.Prefix}\0{output.Suffix}";
        return Cache.GetOrAdd(key, _ => Compile(output));
    }

    /// <summary>The allowed tokens of each state for <paramref name="vocabulary"/>.</summary>
    public TokenMasks MasksFor(TokenTrie vocabulary) => _masks.GetValue(vocabulary, trie => new TokenMasks(this, trie));

    private static JsonGrammar Compile(StructuredOutput output)
    {
        var values = new JsonValueRules();
        GrammarRule document = output.JsonSchema is { } schema ? JsonSchemaCompiler.Compile(schema, values) : values.AnyObject;
        GrammarRule root = values.NewRule("output");
        int afterPrefix = root.AddLiteral(GrammarRule.Start, Encoding.UTF8.GetBytes(output.Prefix));
        int afterDocument = root.AddState();
        root.AddCall(afterPrefix, document, afterDocument);
        root.Accept(root.AddLiteral(afterDocument, Encoding.UTF8.GetBytes(output.Suffix)));
        for (int i = 0; i < values.Rules.Count; i++)
            values.Rules[i].Id = i;
        RefuseLeftRecursion(values.Rules);
        PruneDeadEnds(values.Rules, root);
        return new JsonGrammar(root, values.Rules);
    }

    // A rule that reaches itself through calls at its start would recurse forever before reading a byte.
    private static void RefuseLeftRecursion(List<GrammarRule> rules)
    {
        var done = new HashSet<GrammarRule>();
        var path = new HashSet<GrammarRule>();
        void Visit(GrammarRule rule)
        {
            if (done.Contains(rule))
                return;
            if (!path.Add(rule))
                throw new NotSupportedException(
                    $"The schema at {rule.Name} refers back to itself ('$ref' or 'anyOf') before any text of its own, so it describes no document; make the recursion go through an object or an array.");
            foreach (CallEdge call in rule.CallEdges(GrammarRule.Start))
                Visit(call.Rule);
            path.Remove(rule);
            done.Add(rule);
        }
        foreach (GrammarRule rule in rules)
            Visit(rule);
    }

    // Keeps only what can lead to a whole document: a rule that cannot end (a required property that recurses forever)
    // is cut, with every edge towards it, so that generation can never walk into a state with no way out.
    private static void PruneDeadEnds(List<GrammarRule> rules, GrammarRule root)
    {
        var productive = new HashSet<GrammarRule>();
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (GrammarRule rule in rules.Where(rule => !productive.Contains(rule)))
            {
                if (rule.LiveStates(productive)[GrammarRule.Start])
                    changed |= productive.Add(rule);
            }
        }
        if (!productive.Contains(root))
            throw new ArgumentException("The schema admits no finite document (a required property or minItems recurses without end); make the recursion optional.", "schema");
        foreach (GrammarRule rule in productive)
            rule.Prune(rule.LiveStates(productive), productive);
    }
}
