using System.Text;

namespace Tracker.Internal;

/// <summary>
/// While a run lasts, what the program writes to Console.Out and Console.Error still goes there,
/// and also to the run's <c>output.log</c> and, a completed line at a time, to a callback
/// (which queues it as an <c>output</c> record, so it reaches the server too).
/// </summary>
internal sealed class ConsoleCapture : IDisposable
{
    public const string OutputFile = "output.log";

    private readonly TextWriter _out;
    private readonly TextWriter _error;
    private readonly StreamWriter _file;
    private readonly Tee _teeOut;
    private readonly Tee _teeError;
    private readonly TextWriter _installedOut;
    private readonly TextWriter _installedError;

    public ConsoleCapture(string directory, Action<string, string> onLine)
    {
        (_out, _error) = (Console.Out, Console.Error);
        _file = new StreamWriter(Path.Combine(directory, OutputFile), append: true, new UTF8Encoding(false)) { AutoFlush = true };
        _teeOut = new Tee(_out, _file, line => onLine("stdout", line));
        _teeError = new Tee(_error, _file, line => onLine("stderr", line));
        Console.SetOut(_teeOut);
        Console.SetError(_teeError);
        (_installedOut, _installedError) = (Console.Out, Console.Error); // Console wraps what it is given
    }

    public void Dispose()
    {
        // Only put back what is still ours: the program may have redirected the console since.
        if (ReferenceEquals(Console.Out, _installedOut))
        {
            Console.SetOut(_out);
        }

        if (ReferenceEquals(Console.Error, _installedError))
        {
            Console.SetError(_error);
        }

        _teeOut.FlushLine();
        _teeError.FlushLine();
        lock (_file)
        {
            _file.Dispose();
        }
    }

    /// <summary>Writes to the console and the file, and hands on each completed line.</summary>
    private sealed class Tee(TextWriter console, StreamWriter file, Action<string> onLine) : TextWriter
    {
        private readonly StringBuilder _line = new();
        private bool _closed;

        public override Encoding Encoding => console.Encoding;

        public override void Write(char value)
        {
            console.Write(value);
            lock (file)
            {
                if (!_closed)
                {
                    file.Write(value);
                }
            }

            Append(value);
        }

        public override void Write(string? value)
        {
            console.Write(value);
            if (value is null)
            {
                return;
            }

            lock (file)
            {
                if (!_closed)
                {
                    file.Write(value);
                }
            }

            foreach (var c in value)
            {
                Append(c);
            }
        }

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Flush() => console.Flush();

        /// <summary>Hands on an unfinished last line, and stops writing to the file.</summary>
        public void FlushLine()
        {
            string? rest = null;
            lock (_line)
            {
                if (_line.Length > 0)
                {
                    rest = _line.ToString();
                    _line.Clear();
                }
            }

            lock (file)
            {
                _closed = true;
            }

            if (rest is not null)
            {
                onLine(rest);
            }
        }

        private void Append(char c)
        {
            string? line = null;
            lock (_line)
            {
                if (c == '\n')
                {
                    line = _line.ToString().TrimEnd('\r');
                    _line.Clear();
                }
                else
                {
                    _line.Append(c);
                }
            }

            if (line is not null)
            {
                onLine(line);
            }
        }
    }
}
