using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Gpt2.Torch.Tests;

/// <summary>
/// A real HTTP server on 127.0.0.1 that serves files the way the Hugging Face Hub does: HEAD answers carry the
/// SHA-256 in X-Linked-Etag and the size in X-Linked-Size (when published), GET honours Range, and the first GET of a
/// file can be cut off midway. With <see cref="RequiredToken"/> set it is a gated repository: the files under
/// <c>/resolve/</c> answer 401 without an Authorization header and 403 with a wrong token. A file can redirect to
/// another path, as the Hub redirects large files to its storage.
/// </summary>
internal sealed class FakeHuggingFaceServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, (byte[] Content, string? Sha256, long? Size)> _files = new();
    private readonly HashSet<string> _cutOnce = new();
    private readonly Dictionary<string, string> _redirects = new();
    private readonly Task _loop;

    public FakeHuggingFaceServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Endpoint = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Endpoint.ToString());
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri Endpoint { get; }
    public int GetRequests;
    public int RangeRequests;

    /// <summary>Every request: its method, path and Authorization header (null when none was sent).</summary>
    public ConcurrentQueue<(string Method, string Path, string? Authorization)> Requests { get; } = new();

    /// <summary>When set, the files under /resolve/ need <c>Authorization: Bearer</c> this token.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Answers requests for <paramref name="path"/> with a 302 to <paramref name="target"/>, publishing the target's SHA-256 and size on HEAD.</summary>
    public void Redirect(string path, string target) => _redirects[path] = target;

    /// <param name="publishedSize">The size in X-Linked-Size: the content's when a SHA-256 is published (as the Hub does), else none, unless given.</param>
    public void Add(string path, byte[] content, string? sha256 = null, bool cutFirstDownload = false, long? publishedSize = null)
    {
        _files[path] = (content, sha256, publishedSize ?? (sha256 is null ? null : content.Length));
        if (cutFirstDownload)
            _cutOnce.Add(path);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            try { Handle(context); }
            catch (Exception) { /* the client went away */ }
        }
    }

    private void Handle(HttpListenerContext context)
    {
        string path = context.Request.Url!.AbsolutePath.TrimStart('/');
        HttpListenerResponse response = context.Response;
        if (context.Request.HttpMethod == "GET")
            Interlocked.Increment(ref GetRequests);
        Requests.Enqueue((context.Request.HttpMethod, path, context.Request.Headers["Authorization"]));
        if (RequiredToken is not null && path.Contains("/resolve/", StringComparison.Ordinal)
            && context.Request.Headers["Authorization"] != "Bearer " + RequiredToken)
        {
            bool anonymous = context.Request.Headers["Authorization"] is null;
            response.StatusCode = anonymous ? 401 : 403;
            response.AddHeader("X-Error-Code", "GatedRepo");
            response.Close();
            return;
        }
        if (_redirects.TryGetValue(path, out string? target))
        {
            if (_files.TryGetValue(target, out var stored) && stored.Sha256 is not null)
            {
                response.AddHeader("X-Linked-Etag", $"\"{stored.Sha256}\"");
                response.AddHeader("X-Linked-Size", stored.Content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            response.Redirect(new Uri(Endpoint, target).ToString());
            response.Close();
            return;
        }
        if (!_files.TryGetValue(path, out var file))
        {
            response.StatusCode = 404;
            response.Close();
            return;
        }
        if (file.Sha256 is not null)
            response.AddHeader("X-Linked-Etag", $"\"{file.Sha256}\"");
        if (file.Size is long size)
            response.AddHeader("X-Linked-Size", size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (context.Request.HttpMethod == "HEAD")
        {
            response.Close();
            return;
        }

        long start = 0;
        string? range = context.Request.Headers["Range"];
        if (range is not null)
        {
            Interlocked.Increment(ref RangeRequests);
            start = long.Parse(range["bytes=".Length..].TrimEnd('-'));
            response.StatusCode = 206;
            response.AddHeader("Content-Range", $"bytes {start}-{file.Content.Length - 1}/{file.Content.Length}");
        }
        response.ContentLength64 = file.Content.Length - start;
        if (_cutOnce.Remove(path))
        {
            response.OutputStream.Write(file.Content, (int)start, (file.Content.Length - (int)start) / 2);
            response.OutputStream.Flush();
            response.Abort();
            return;
        }
        response.OutputStream.Write(file.Content, (int)start, file.Content.Length - (int)start);
        response.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
