using System.Buffers.Binary;
using System.Collections;
using System.IO.MemoryMappedFiles;
using System.Text;
using Gpt2.Torch.IO;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Data;

/// <summary>
/// A corpus tokenized once into a file of little-endian uint16 token ids (nanoGPT's <c>train.bin</c> format), read back
/// memory-mapped, so corpora larger than memory work: pass it to <see cref="NextTokenWindows"/> like any token list.
/// </summary>
/// <remarks>Holds up to 2^31 - 1 tokens (a 4 GiB file); dispose it after the windows that read it.</remarks>
public sealed unsafe class TokenFile : IReadOnlyList<int>, IDisposable
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly ushort* _tokens;
    private bool _disposed;

    private TokenFile(string path)
    {
        long bytes = new FileInfo(path).Length;
        if (bytes % 2 != 0)
            throw new InvalidDataException($"{path} holds {bytes} bytes, an odd number, so it is not a file of uint16 token ids; write it with TokenFile.Write.");
        if (bytes / 2 > int.MaxValue)
            throw new InvalidDataException($"{path} holds {bytes / 2} tokens; a TokenFile reads at most {int.MaxValue}. Split the corpus into several files.");
        Count = (int)(bytes / 2);
        if (Count == 0)
            return;
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* start = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _tokens = (ushort*)(start + _view.PointerOffset);
    }

    /// <summary>Maps a token file written by <see cref="Write"/>.</summary>
    public static TokenFile Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"The token file {path} does not exist; create it with TokenFile.Write.", path);
        return new TokenFile(path);
    }

    /// <summary>
    /// Tokenizes the UTF-8 text file <paramref name="textPath"/> into the token file <paramref name="tokenPath"/>, streaming
    /// the text in chunks cut where tokenization cannot change (before the whitespace that precedes a word), so the ids
    /// are exactly those of the whole text. The file is written atomically. Returns the number of tokens.
    /// </summary>
    /// <param name="textPath">The corpus.</param>
    /// <param name="tokenPath">The token file to write.</param>
    /// <param name="tokenizer">
    /// A byte-level BPE tokenizer with GPT-2's pre-tokenization (such as <c>Gpt2Tokenizer.Default.Tokenizer</c>, which turns
    /// <c>&lt;|endoftext|&gt;</c> in the text into its id); its ids must be below 65536.
    /// </param>
    /// <param name="chunkCharacters">Characters read at a time.</param>
    public static long Write(string textPath, string tokenPath, Tokenizer tokenizer, int chunkCharacters = 1 << 22)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        long count = 0;
        AtomicFile.Write(tokenPath, stream =>
        {
            using var reader = new StreamReader(textPath, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            foreach (string chunk in TextChunks.Split(reader, chunkCharacters))
            {
                IReadOnlyList<int> ids = tokenizer.EncodeToIds(chunk);
                var bytes = new byte[2 * ids.Count];
                for (int i = 0; i < ids.Count; i++)
                {
                    if ((uint)ids[i] > ushort.MaxValue)
                        throw new ArgumentException(
                            $"The tokenizer produced id {ids[i]}, which does not fit in a uint16 token file (ids 0 to 65535); use a vocabulary of at most 65536 tokens.",
                            nameof(tokenizer));
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), (ushort)ids[i]);
                }
                stream.Write(bytes);
                count += ids.Count;
            }
        });
        return count;
    }

    /// <summary>Number of tokens.</summary>
    public int Count { get; }

    /// <summary>Token <paramref name="index"/>.</summary>
    public int this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            ObjectDisposedException.ThrowIf(_disposed, this);
            ushort token = _tokens[index];
            return BitConverter.IsLittleEndian ? token : BinaryPrimitives.ReverseEndianness(token);
        }
    }

    /// <inheritdoc />
    public IEnumerator<int> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
            yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view?.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _file?.Dispose();
    }
}
