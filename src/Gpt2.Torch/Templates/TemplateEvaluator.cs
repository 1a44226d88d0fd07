using System.Text;

namespace Gpt2.Torch.Templates;

/// <summary>
/// Renders a parsed template: walks the statements, evaluates expressions with Python's semantics (see
/// <see cref="TemplateValues"/>), and writes the text.
/// </summary>
internal sealed class TemplateEvaluator
{
    private enum Flow { Normal, Break, Continue }

    // The template's top level: what macros see besides their parameters.
    private readonly TemplateScope _top;
    private TemplateScope _scope;
    private StringBuilder _output = new();

    public TemplateEvaluator(TemplateScope root)
    {
        _top = new TemplateScope(root);
        _scope = _top;
    }

    public string Render(IReadOnlyList<Statement> body)
    {
        Execute(body);
        return _output.ToString();
    }

    private Flow Execute(IReadOnlyList<Statement> body)
    {
        foreach (var statement in body)
        {
            var flow = Execute(statement);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }
        return Flow.Normal;
    }

    private Flow Execute(Statement statement)
    {
        switch (statement)
        {
            case TextStatement text:
                _output.Append(text.Text);
                return Flow.Normal;
            case OutputStatement output:
                _output.Append(TemplateValues.ToText(Evaluate(output.Value)));
                return Flow.Normal;
            case IfStatement conditional:
                foreach (var (condition, body) in conditional.Branches)
                {
                    if (TemplateValues.IsTrue(Evaluate(condition)))
                    {
                        return Execute(body);
                    }
                }
                return Execute(conditional.Otherwise);
            case ForStatement loop:
                ExecuteFor(loop);
                return Flow.Normal;
            case SetStatement set:
                ExecuteSet(set);
                return Flow.Normal;
            case SetBlockStatement setBlock:
                _scope.Set(setBlock.Target, Capture(() => Execute(setBlock.Body)));
                return Flow.Normal;
            case MacroStatement macro:
                _scope.Set(macro.Name, new MacroCallable(macro, caller: null));
                return Flow.Normal;
            case CallBlockStatement callBlock:
                _output.Append(TemplateValues.ToText(EvaluateCall(callBlock.Call, callBlock.Body)));
                return Flow.Normal;
            case BreakStatement:
                return Flow.Break;
            case ContinueStatement:
                return Flow.Continue;
            default:
                throw statement.Position.Error($"Cannot render {statement.GetType().Name}");
        }
    }

    private string Capture(Action render)
    {
        var saved = _output;
        _output = new StringBuilder();
        try
        {
            render();
            return _output.ToString();
        }
        finally
        {
            _output = saved;
        }
    }

    private void ExecuteFor(ForStatement loop)
    {
        var items = new List<object?>(TemplateIteration.Items(Evaluate(loop.Iterable), loop.Iterable.Position));
        if (loop.Filter is not null)
        {
            items = items.Where(item =>
            {
                var filterScope = new TemplateScope(_scope);
                Bind(filterScope, loop.Targets, item, loop.Position);
                return TemplateValues.IsTrue(WithScope(filterScope, () => Evaluate(loop.Filter)));
            }).ToList();
        }
        if (items.Count == 0)
        {
            Execute(loop.Otherwise);
            return;
        }
        var outer = _scope;
        try
        {
            for (int i = 0; i < items.Count; i++)
            {
                _scope = new TemplateScope(outer);
                Bind(_scope, loop.Targets, items[i], loop.Position);
                _scope.Set("loop", LoopVariable(items, i));
                if (Execute(loop.Body) == Flow.Break)
                {
                    break;
                }
            }
        }
        finally
        {
            _scope = outer;
        }
    }

    private static OrderedDictionary<string, object?> LoopVariable(List<object?> items, int i) => new(StringComparer.Ordinal)
    {
        ["index"] = (long)(i + 1),
        ["index0"] = (long)i,
        ["revindex"] = (long)(items.Count - i),
        ["revindex0"] = (long)(items.Count - i - 1),
        ["first"] = i == 0,
        ["last"] = i == items.Count - 1,
        ["length"] = (long)items.Count,
        ["previtem"] = i > 0 ? items[i - 1] : Undefined.Named("loop.previtem"),
        ["nextitem"] = i < items.Count - 1 ? items[i + 1] : Undefined.Named("loop.nextitem"),
        ["cycle"] = new NativeCallable("loop.cycle", (arguments, _, position) =>
            arguments.Count == 0 ? throw position.Error("loop.cycle() needs at least one value") : arguments[i % arguments.Count]),
    };

    private static void Bind(TemplateScope scope, IReadOnlyList<string> targets, object? value, SourcePosition position)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }
        var values = TemplateIteration.Items(value, position).ToList();
        if (values.Count != targets.Count)
        {
            throw position.Error($"Cannot unpack {values.Count} values into {targets.Count} names ({string.Join(", ", targets)})");
        }
        for (int i = 0; i < targets.Count; i++)
        {
            scope.Set(targets[i], values[i]);
        }
    }

    private void ExecuteSet(SetStatement set)
    {
        var value = Evaluate(set.Value);
        if (set.Namespace is null)
        {
            Bind(_scope, set.Targets, value, set.Position);
            return;
        }
        if (!_scope.TryGet(set.Namespace, out var target) || target is not TemplateNamespace ns)
        {
            throw set.Position.Error($"Cannot set '{set.Namespace}.{set.Targets[0]}': '{set.Namespace}' is not a namespace()");
        }
        ns.Attributes[set.Targets[0]] = value;
    }

    private T WithScope<T>(TemplateScope scope, Func<T> evaluate)
    {
        var saved = _scope;
        _scope = scope;
        try
        {
            return evaluate();
        }
        finally
        {
            _scope = saved;
        }
    }

    public object? Evaluate(Expression expression)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return _scope.TryGet(name.Name, out var value) ? value : Undefined.Named(name.Name);
            case ListExpression list:
                return list.IsTuple ? new TemplateTuple(list.Items.Select(Evaluate)) : list.Items.Select(Evaluate).ToList();
            case DictExpression dict:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, item) in dict.Entries)
                {
                    result[Evaluate(key) as string ?? throw key.Position.Error("Dict keys must be strings in this chat template interpreter")] = Evaluate(item);
                }
                return result;
            case AttributeExpression attribute:
                return TemplateAccess.Attribute(Evaluate(attribute.Target), attribute.Name, attribute.Position);
            case ItemExpression item:
                return TemplateAccess.Item(Evaluate(item.Target), Evaluate(item.Key), item.Position);
            case SliceExpression slice:
                return TemplateAccess.Slice(Evaluate(slice.Target), EvaluateOptional(slice.Start), EvaluateOptional(slice.Stop),
                    EvaluateOptional(slice.Step), slice.Position);
            case CallExpression call:
                return EvaluateCall(call, callerBody: null);
            case FilterExpression filter:
                return TemplateFilters.Apply(this, filter.Name, Evaluate(filter.Target), EvaluateArguments(filter.Arguments, out var filterKeywords),
                    filterKeywords, filter.Position);
            case TestExpression test:
                bool passed = TemplateTests.Apply(test.Name, Evaluate(test.Target), EvaluateArguments(test.Arguments, out _), test.Position);
                return passed != test.Negated;
            case UnaryExpression unary:
                return TemplateOperators.Unary(unary.Operator, Evaluate(unary.Operand), unary.Position);
            case BinaryExpression { Operator: "and" } and:
                var left = Evaluate(and.Left);
                return TemplateValues.IsTrue(left) ? Evaluate(and.Right) : left;
            case BinaryExpression { Operator: "or" } or:
                var first = Evaluate(or.Left);
                return TemplateValues.IsTrue(first) ? first : Evaluate(or.Right);
            case BinaryExpression binary:
                return TemplateOperators.Binary(binary.Operator, Evaluate(binary.Left), Evaluate(binary.Right), binary.Position);
            case CompareExpression compare:
                var current = Evaluate(compare.First);
                foreach (var (op, operand) in compare.Rest)
                {
                    var next = Evaluate(operand);
                    if (!TemplateOperators.Compare(op, current, next, compare.Position))
                    {
                        return false;
                    }
                    current = next;
                }
                return true;
            case ConditionalExpression conditional:
                return TemplateValues.IsTrue(Evaluate(conditional.Condition))
                    ? Evaluate(conditional.Then)
                    : conditional.Otherwise is null ? Undefined.Named("conditional expression") : Evaluate(conditional.Otherwise);
            default:
                throw expression.Position.Error($"Cannot evaluate {expression.GetType().Name}");
        }
    }

    private object? EvaluateOptional(Expression? expression) => expression is null ? null : Evaluate(expression);

    private List<object?> EvaluateArguments(Arguments arguments, out Dictionary<string, object?> keywords)
    {
        keywords = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Keyword)
        {
            keywords[name] = Evaluate(value);
        }
        return arguments.Positional.Select(Evaluate).ToList();
    }

    private object? EvaluateCall(CallExpression call, IReadOnlyList<Statement>? callerBody)
    {
        var callee = Evaluate(call.Callee);
        var positional = EvaluateArguments(call.Arguments, out var keywords);
        if (callee is MacroCallable macro && callerBody is not null)
        {
            callee = new MacroCallable(macro.Definition, new NativeCallable("caller", (_, _, _) => Capture(() => Execute(callerBody))));
        }
        if (callee is TemplateCallable callable)
        {
            return callable.Invoke(this, positional, keywords, call.Position);
        }
        string name = call.Callee switch
        {
            NameExpression n => n.Name,
            AttributeExpression a => a.Name,
            _ => "expression",
        };
        throw call.Position.Error(callee switch
        {
            Undefined undefined when call.Callee is AttributeExpression =>
                $"Unsupported method '{name}': {undefined.Description} in this chat template interpreter",
            Undefined => $"Unknown function '{name}': this chat template interpreter does not provide it",
            _ => $"'{name}' is a {TemplateValues.TypeName(callee)}, not a function",
        });
    }

    /// <summary>A <c>{% macro %}</c>: a call renders its body in a scope of its own, with its parameters bound.</summary>
    private sealed class MacroCallable(MacroStatement definition, TemplateCallable? caller) : TemplateCallable
    {
        public MacroStatement Definition => definition;

        public override string Name => definition.Name;

        public override object? Invoke(TemplateEvaluator evaluator, IReadOnlyList<object?> arguments,
            IReadOnlyDictionary<string, object?> keywordArguments, SourcePosition position)
        {
            var scope = new TemplateScope(evaluator._top);
            if (arguments.Count > definition.Parameters.Count)
            {
                throw position.Error($"Macro '{Name}' takes {definition.Parameters.Count} arguments but was given {arguments.Count}");
            }
            foreach (var name in keywordArguments.Keys)
            {
                if (!definition.Parameters.Any(p => p.Name == name))
                {
                    throw position.Error($"Macro '{Name}' has no parameter '{name}'");
                }
            }
            for (int i = 0; i < definition.Parameters.Count; i++)
            {
                var (name, defaultValue) = definition.Parameters[i];
                object? value = i < arguments.Count ? arguments[i]
                    : keywordArguments.TryGetValue(name, out var keyword) ? keyword
                    : defaultValue is not null ? evaluator.WithScope(scope, () => evaluator.Evaluate(defaultValue))
                    : Undefined.Named(name);
                scope.Set(name, value);
            }
            if (caller is not null)
            {
                scope.Set("caller", caller);
            }
            var saved = evaluator._scope;
            evaluator._scope = scope;
            try
            {
                return evaluator.Capture(() => evaluator.Execute(definition.Body));
            }
            finally
            {
                evaluator._scope = saved;
            }
        }
    }
}
