using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Tracker.Pipeline;

/// <summary>
/// The bounded hand-off between the run and its worker. Chunks travel through an unbounded
/// channel; the bound is a semaphore of free slots, so a full queue blocks the producer
/// synchronously without allocating. Chunks are pooled and come back after they are written.
/// The worker looks for chunks rather than being woken by each one (<see cref="WaitToReadAsync"/>).
/// </summary>
internal sealed class RecordQueue
{
    private readonly Channel<Chunk> _channel = Channel.CreateUnbounded<Chunk>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    /// <summary>How long the worker first waits when it finds nothing; it doubles while nothing comes.</summary>
    private static readonly TimeSpan FirstLook = TimeSpan.FromMilliseconds(1);

    /// <summary>The longest the worker waits between looks: how long a handed-off chunk may wait for it.</summary>
    private static readonly TimeSpan LongestLook = TimeSpan.FromMilliseconds(50);

    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly ConcurrentQueue<Chunk> _pool = new();

    public RecordQueue(int chunkSize, int capacityInChunks)
    {
        ChunkSize = chunkSize;
        _slots = new SemaphoreSlim(capacityInChunks, capacityInChunks);

        // The channel's queue grows in segments of doubling size whenever more chunks wait than the
        // last segment holds, allocating on the producer's thread. Grow it now, once, past every slot
        // and as many more (markers, the last chunk): publishing then never allocates in Log.
        var filler = new Chunk(0);
        for (var i = 0; i <= 2 * capacityInChunks; i++)
        {
            _channel.Writer.TryWrite(filler);
        }

        while (_channel.Reader.TryRead(out _))
        {
        }
    }

    public int ChunkSize { get; }

    public ChannelReader<Chunk> Reader => _channel.Reader;

    public Chunk Rent() => _pool.TryDequeue(out var chunk) ? chunk : new Chunk(ChunkSize);

    /// <summary>Queues a data chunk; waits for a free slot when <paramref name="wait"/> is set. False when full.</summary>
    public bool TryPublish(Chunk chunk, bool wait)
    {
        if (!_slots.Wait(0))
        {
            if (!wait)
            {
                return false;
            }

            _slots.Wait();
        }

        chunk.HoldsSlot = true;
        if (_channel.Writer.TryWrite(chunk))
        {
            return true;
        }

        chunk.HoldsSlot = false;
        _slots.Release();
        return false;
    }

    /// <summary>
    /// Queues a chunk without taking a slot: flush markers and the final chunk at finish, which
    /// must neither be dropped nor wait on a stuck writer. False once the queue is completed.
    /// </summary>
    public bool TryPublishUnbounded(Chunk chunk)
    {
        var published = _channel.Writer.TryWrite(chunk);
        Wake(); // a flush or the last chunk: someone waits for it
        return published;
    }

    public void Complete()
    {
        _channel.Writer.TryComplete();
        Wake();
    }

    /// <summary>
    /// Waits until a chunk is queued: true, or false once the queue is completed and empty. Log's
    /// hand-offs do not wake the worker: waking an asynchronous reader from the logging thread
    /// queues a work item on the thread pool's global queue, which allocates on that thread
    /// whenever the queue grows (seen: 6 KB in one Log call). So the worker looks again after 1 ms,
    /// then 2, 4, ... up to 50 ms while nothing comes; flush markers and the end wake it at once.
    /// </summary>
    public async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        var wait = FirstLook;
        while (!_channel.Reader.TryPeek(out _))
        {
            if (_channel.Reader.Completion.IsCompleted)
            {
                return false;
            }

            await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            wait = wait * 2 < LongestLook ? wait * 2 : LongestLook;
        }

        return true;
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // another thread woke the worker first
            }
        }
    }

    /// <summary>Called by the worker once a chunk is written or dropped.</summary>
    public void Return(Chunk chunk)
    {
        if (chunk.FlushSignal is not null)
        {
            return; // markers are small and one-off
        }

        // Pool first, then free the slot: a producer woken by the slot must find the chunk to reuse.
        var heldSlot = chunk.HoldsSlot;
        chunk.Reset();
        _pool.Enqueue(chunk);
        if (heldSlot)
        {
            _slots.Release();
        }
    }
}
