using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// The environment of the <see cref="MLContext"/> whose catalog a catalog extension was called on, so that the estimator
/// it returns obeys that context's <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/> and
/// <see cref="MLContext.FallbackToCpu"/>, and reports to its <see cref="MLContext.Log"/>.
/// </summary>
/// <remarks>
/// Microsoft.ML 5.0 and 6.0 give a third party no public way from a catalog to its context: every catalog implements the
/// internal <c>Microsoft.ML.Data.IInternalCatalog</c> explicitly, whose <c>Environment</c> is the context's inner
/// environment (not the <see cref="MLContext"/> itself), and the cancellation flag (<c>ICancelable</c>) and device
/// settings (<c>IHostEnvironmentInternal</c>) of that environment are internal too. They are read here by reflection;
/// when any of them is missing (another ML.NET), <see cref="CreateContext"/> returns a context of the estimator's own,
/// which obeys none of the caller's settings.
/// The estimator still builds its ML.NET pipelines in an <see cref="MLContext"/> of its own (no public API makes an
/// <see cref="MLContext"/> from an environment); that context stands for the caller's one: <see cref="Of"/> finds the
/// caller's environment from it, its log goes to the caller's log, and it is cancelled with the caller's.
/// </remarks>
internal sealed class CatalogEnvironment
{
    private sealed record Members(PropertyInfo Environment, PropertyInfo IsCanceled, MethodInfo CancelExecution,
        PropertyInfo GpuDeviceId, PropertyInfo FallbackToCpu)
    {
        public static Members? Find()
        {
            try
            {
                Type? catalog = typeof(TransformsCatalog).Assembly.GetType("Microsoft.ML.Data.IInternalCatalog");
                Type? cancelable = typeof(IHostEnvironment).Assembly.GetType("Microsoft.ML.Runtime.ICancelable");
                Type? settings = typeof(IHostEnvironment).Assembly.GetType("Microsoft.ML.Runtime.IHostEnvironmentInternal");
                PropertyInfo? environment = catalog?.GetProperty("Environment");
                PropertyInfo? isCanceled = cancelable?.GetProperty("IsCanceled");
                MethodInfo? cancelExecution = cancelable?.GetMethod("CancelExecution", Type.EmptyTypes);
                PropertyInfo? gpuDeviceId = settings?.GetProperty("GpuDeviceId");
                PropertyInfo? fallbackToCpu = settings?.GetProperty("FallbackToCpu");
                return environment?.PropertyType == typeof(IHostEnvironment) && isCanceled?.PropertyType == typeof(bool) && cancelExecution is not null
                    && gpuDeviceId?.PropertyType == typeof(int?) && fallbackToCpu?.PropertyType == typeof(bool)
                    ? new Members(environment, isCanceled, cancelExecution, gpuDeviceId, fallbackToCpu)
                    : null;
            }
            catch (Exception e) when (e is AmbiguousMatchException or TypeLoadException or FileNotFoundException or FileLoadException or BadImageFormatException)
            {
                return null;
            }
        }

        public bool Fits(object environment) =>
            IsCanceled.DeclaringType!.IsInstanceOfType(environment) && GpuDeviceId.DeclaringType!.IsInstanceOfType(environment);
    }

    private static readonly Members? s_members = Members.Find();
    private static readonly ConditionalWeakTable<MLContext, CatalogEnvironment> s_standIns = new();

    private readonly IHostEnvironment _environment;
    private readonly Members _members;
    private readonly Lock _logLock = new();
    private IChannel? _log;

    private CatalogEnvironment(IHostEnvironment environment, Members members)
    {
        _environment = environment;
        _members = members;
    }

    /// <summary>Whether the caller's context was cancelled (<c>MLContext.CancelExecution</c>).</summary>
    public bool IsCanceled => (bool)_members.IsCanceled.GetValue(_environment)!;

    /// <summary>The caller's <see cref="MLContext.GpuDeviceId"/>, as it is now.</summary>
    public int? GpuDeviceId => (int?)_members.GpuDeviceId.GetValue(_environment);

    /// <summary>The caller's <see cref="MLContext.FallbackToCpu"/>, as it is now.</summary>
    public bool FallbackToCpu => (bool)_members.FallbackToCpu.GetValue(_environment)!;

    /// <summary>Whether this ML.NET lets the catalog extensions reach the caller's context (false: each estimator works in a context of its own).</summary>
    public static bool IsReachable => s_members is not null;

    /// <summary>
    /// The context a catalog extension builds its estimator in: a new <see cref="MLContext"/> with <paramref name="seed"/>
    /// that stands for <paramref name="catalog"/>'s own context when this ML.NET lets it be reached, else one unrelated to it.
    /// </summary>
    public static MLContext CreateContext(object catalog, int? seed)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var context = new MLContext(seed);
        if (s_members is not null && s_members.Environment.DeclaringType!.IsInstanceOfType(catalog)
            && s_members.Environment.GetValue(catalog) is IHostEnvironment environment && s_members.Fits(environment))
        {
            var caller = new CatalogEnvironment(environment, s_members);
            s_standIns.Add(context, caller);
            context.Log += caller.Forward;
            // As RegisterGpt2Components does for a context given directly: the caller's context can then load the saved zips.
            environment.ComponentCatalog.RegisterAssembly(typeof(CatalogEnvironment).Assembly);
        }
        return context;
    }

    /// <summary>The caller's environment that <paramref name="context"/> (made by <see cref="CreateContext"/>) stands for, or null.</summary>
    public static CatalogEnvironment? Of(MLContext context) => s_standIns.TryGetValue(context, out CatalogEnvironment? caller) ? caller : null;

    /// <summary>Cancels <paramref name="standIn"/> (whose caller this is) when the caller's context was cancelled.</summary>
    public void PropagateCancellation(MLContext standIn)
    {
        if (IsCanceled && s_members!.Environment.GetValue(standIn.Transforms) is IHostEnvironment own && s_members.Fits(own))
            _members.CancelExecution.Invoke(own, null);
    }

    private void Forward(object? sender, LoggingEventArgs e)
    {
        IChannel log;
        lock (_logLock)
            log = _log ??= _environment.Start("Gpt2MLNet");
        switch (e.Kind)
        {
            case ChannelMessageKind.Error: log.Error(MessageSensitivity.Unknown, e.Message); break;
            case ChannelMessageKind.Warning: log.Warning(MessageSensitivity.Unknown, e.Message); break;
            case ChannelMessageKind.Info: log.Info(MessageSensitivity.Unknown, e.Message); break;
            default: log.Trace(MessageSensitivity.Unknown, e.Message); break;
        }
    }
}
