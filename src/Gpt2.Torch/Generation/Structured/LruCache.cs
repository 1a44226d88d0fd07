namespace Gpt2.Torch.Generation.Structured;

/// <summary>A thread-safe map that keeps its <see cref="Capacity"/> most recently used entries and drops the others.</summary>
internal sealed class LruCache<TKey, TValue>(int capacity) where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _entries = [];
    private readonly LinkedList<(TKey Key, TValue Value)> _recent = new();   // most recent first
    private readonly Lock _sync = new();

    public int Capacity => capacity;

    public int Count
    {
        get
        {
            lock (_sync)
                return _entries.Count;
        }
    }

    /// <summary>The value of <paramref name="key"/>, made by <paramref name="make"/> (outside the lock) when absent.</summary>
    public TValue GetOrAdd(TKey key, Func<TKey, TValue> make)
    {
        if (TryGet(key, out TValue? value))
            return value;
        value = make(key);
        lock (_sync)
        {
            if (_entries.TryGetValue(key, out LinkedListNode<(TKey, TValue Value)>? raced))
                return raced.Value.Value;
            _entries.Add(key, _recent.AddFirst((key, value)));
            while (_entries.Count > capacity)
            {
                _entries.Remove(_recent.Last!.Value.Key);
                _recent.RemoveLast();
            }
        }
        return value;
    }

    public bool TryGet(TKey key, out TValue value)
    {
        lock (_sync)
        {
            if (_entries.TryGetValue(key, out LinkedListNode<(TKey, TValue Value)>? node))
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }
        value = default!;
        return false;
    }
}
