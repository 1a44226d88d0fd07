namespace Gpt2.Torch.Templates;

/// <summary>
/// The functions every template can call: transformers' <c>raise_exception</c> and <c>strftime_now</c>, and Jinja's
/// <c>namespace</c>, <c>range</c> and <c>dict</c>.
/// </summary>
internal static class TemplateGlobals
{
    public static TemplateScope Create(DateTimeOffset? now)
    {
        var scope = new TemplateScope(null);
        scope.Set("raise_exception", new NativeCallable("raise_exception", (arguments, _, position) =>
            throw new ChatTemplateException(arguments.Count > 0 ? TemplateValues.ToText(arguments[0]) : "raise_exception() was called",
                position.Line, position.Column, raisedByTemplate: true)));
        scope.Set("strftime_now", new NativeCallable("strftime_now", (arguments, _, position) =>
            StrftimeFormatter.Format(now ?? DateTimeOffset.Now,
                arguments.Count == 1 && arguments[0] is string format ? format : throw position.Error("strftime_now takes one format string"),
                position)));
        scope.Set("namespace", new NativeCallable("namespace", (arguments, keywords, position) =>
        {
            var ns = new TemplateNamespace();
            foreach (var argument in arguments)
            {
                if (argument is not OrderedDictionary<string, object?> initial) throw position.Error("namespace() takes a dict or keyword arguments");
                foreach (var (key, value) in initial) ns.Attributes[key] = value;
            }
            foreach (var (key, value) in keywords) ns.Attributes[key] = value;
            return ns;
        }));
        scope.Set("range", new NativeCallable("range", (arguments, _, position) =>
        {
            if (arguments.Count is 0 or > 3 || arguments.Any(a => a is not (long or bool)))
            {
                throw position.Error("range takes one to three integers");
            }
            long start = arguments.Count == 1 ? 0 : TemplateValues.ToLong(arguments[0]);
            long stop = TemplateValues.ToLong(arguments[arguments.Count == 1 ? 0 : 1]);
            long step = arguments.Count == 3 ? TemplateValues.ToLong(arguments[2]) : 1;
            if (step == 0) throw position.Error("range() step must not be zero");
            var values = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) values.Add(i);
            return values;
        }));
        scope.Set("dict", new NativeCallable("dict", (arguments, keywords, position) =>
        {
            var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
            foreach (var argument in arguments)
            {
                if (argument is not OrderedDictionary<string, object?> initial) throw position.Error("dict() takes a dict or keyword arguments");
                foreach (var (key, value) in initial) dict[key] = value;
            }
            foreach (var (key, value) in keywords) dict[key] = value;
            return dict;
        }));
        return scope;
    }
}
