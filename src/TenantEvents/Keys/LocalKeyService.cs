using System.Security.Cryptography;
using Azure.Core.Cryptography;

namespace TenantEvents.Keys;

/// <summary>
/// The embedded key service: a root key in a file of the data folder (owner-only permissions) and, per tenant, random
/// KEK versions stored wrapped by the root key (AES key wrap with padding, RFC 5649), one file each, so one tenant's
/// KEKs can be destroyed on their own. Key ids: local/tenants/{tenant}/kek-v{n}.
/// </summary>
public sealed class LocalKeyService : IKeyService, IKeyEncryptionKeyResolver
{
    public const string Algorithm = "A256KWP";
    private const string Prefix = "local/tenants/";
    private readonly string _folder;
    private readonly Lazy<byte[]> _root;
    private readonly object _gate = new();

    public LocalKeyService(string dataFolder)
    {
        _folder = Path.Combine(dataFolder, "keys");
        _root = new Lazy<byte[]>(LoadOrCreateRoot);
    }

    public string Provider => "local";
    public string WrapAlgorithm => Algorithm;
    public IKeyEncryptionKeyResolver Resolver => this;

    /// <summary>
    /// The next KEK version. Several processes may share the data folder (instances of the service, the CLI), so the
    /// in-process lock is not enough: the new key is written whole to a temporary file and then linked under its version's
    /// name only if no file has that name yet (File.Move without overwrite, which fails when the target exists). A process
    /// that loses the race for a version takes the next one; no version is ever overwritten, so every key id handed out
    /// keeps unwrapping what it wrapped, and no reader ever sees a half-written key.
    /// </summary>
    public Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation)
    {
        lock (_gate)
        {
            var folder = TenantFolder(tenantId);
            Directory.CreateDirectory(folder);
            var kek = RandomNumberGenerator.GetBytes(32);
            try
            {
                var temporary = Path.Combine(folder, $".kek-{Guid.NewGuid():N}.tmp");
                WriteOwnerOnly(temporary, WrapWithRoot(kek), FileMode.CreateNew);
                try
                {
                    for (var version = NewestVersion(folder) + 1; ; version++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        if (TryPublish(temporary, Path.Combine(folder, $"kek-v{version}.bin")))
                            return Task.FromResult($"{Prefix}{tenantId}/kek-v{version}");
                    }
                }
                finally
                {
                    File.Delete(temporary); // gone already once published; left only by a failure
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(kek);
            }
        }
    }

    /// <summary>The highest KEK version in the tenant's folder (0: none).</summary>
    private static int NewestVersion(string folder) =>
        Directory.GetFiles(folder, "kek-v*.bin")
            .Select(f => int.TryParse(Path.GetFileNameWithoutExtension(f)["kek-v".Length..], out var v) ? v : 0)
            .DefaultIfEmpty(0).Max();

    /// <summary>
    /// Gives the fully written file its final name unless that name is taken (by another process): atomic, never
    /// replacing. On Unix a hard link (link(2) fails with EEXIST when the name exists; File.Move would check and then
    /// rename(2), which replaces whatever another process linked in between); on Windows MoveFileEx without replace.
    /// </summary>
    private static bool TryPublish(string temporary, string target)
    {
        if (OperatingSystem.IsWindows())
        {
            try
            {
                File.Move(temporary, target, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(target))
            {
                return false;
            }
        }
        if (Link(temporary, target) == 0) return true;
        var error = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        if (error == EExist) return false;
        throw new IOException($"Could not publish {target} (errno {error}).");
    }

    private const int EExist = 17;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link(string existing, string created);

    public Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation)
    {
        lock (_gate)
        {
            var folder = TenantFolder(tenantId);
            RecordShredded(tenantId);
            if (!Directory.Exists(folder)) return Task.CompletedTask;
            foreach (var file in Directory.GetFiles(folder))
            {
                // Overwrite before deleting: the wrapped KEK should not linger in free blocks longer than it must.
                var length = new FileInfo(file).Length;
                File.WriteAllBytes(file, new byte[length]);
                File.Delete(file);
            }
            Directory.Delete(folder);
            return Task.CompletedTask;
        }
    }

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default)
    {
        if (!keyId.StartsWith(Prefix, StringComparison.Ordinal)) throw new KeyNotFoundException($"{keyId} is not a local key id.");
        var parts = keyId[Prefix.Length..].Split('/');
        if (parts.Length != 2 || !Guid.TryParse(parts[0], out var tenant) || !parts[1].StartsWith("kek-v", StringComparison.Ordinal))
            throw new KeyNotFoundException($"{keyId} is not a local key id.");
        var path = Path.Combine(TenantFolder(tenant), parts[1] + ".bin");
        if (!File.Exists(path)) throw new KeyNotFoundException($"Key {keyId} does not exist (destroyed or never created).");
        return new LocalKek(keyId, Aes(_root.Value).DecryptKeyWrapPadded(File.ReadAllBytes(path)));
    }

    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Resolve(keyId, cancellationToken));

    private string TenantFolder(Guid tenantId) => Path.Combine(_folder, "tenants", tenantId.ToString());

    /// <summary>
    /// Keeps the fact (never a key) that the tenant was shredded, in keys/shredded/&lt;tenant&gt;, written before its keys
    /// go: a restore of the keys from a backup skips it, and the next backup purges it from the earlier key backups
    /// (ops/backup), so that a shredded tenant stays shredded however the keys come back.
    /// </summary>
    private void RecordShredded(Guid tenantId)
    {
        var folder = Path.Combine(_folder, "shredded");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, tenantId.ToString()), DateTimeOffset.UtcNow.ToString("O") + "\n");
    }

    private byte[] WrapWithRoot(byte[] key) => Aes(_root.Value).EncryptKeyWrapPadded(key);

    private static Aes Aes(byte[] key)
    {
        var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = key;
        return aes;
    }

    private byte[] LoadOrCreateRoot()
    {
        Directory.CreateDirectory(_folder);
        var path = Path.Combine(_folder, "root.key");
        if (!File.Exists(path))
        {
            // Written whole, then published without replacing: a process starting at the same time either wins or reads
            // the winner's key, never an empty or half-written file, and never replaces a root key already in use.
            var temporary = Path.Combine(_folder, $".root-{Guid.NewGuid():N}.tmp");
            var root = RandomNumberGenerator.GetBytes(32);
            try
            {
                WriteOwnerOnly(temporary, root, FileMode.CreateNew);
                TryPublish(temporary, path);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(root);
                File.Delete(temporary);
            }
        }
        var stored = File.ReadAllBytes(path);
        if (stored.Length != 32) throw new InvalidOperationException($"{path} is not a 256-bit key.");
        return stored;
    }

    private static void WriteOwnerOnly(string path, byte[] content, FileMode mode = FileMode.Create)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>One KEK version in memory: wraps and unwraps data keys with AES key wrap with padding.</summary>
    private sealed class LocalKek(string keyId, byte[] key) : IKeyEncryptionKey
    {
        public string KeyId => keyId;

        public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellationToken = default)
        {
            Check(algorithm);
            return Aes(key).EncryptKeyWrapPadded(plain.Span);
        }

        public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellationToken = default) =>
            Task.FromResult(WrapKey(algorithm, plain, cancellationToken));

        public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellationToken = default)
        {
            Check(algorithm);
            return Aes(key).DecryptKeyWrapPadded(wrapped.Span);
        }

        public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellationToken = default) =>
            Task.FromResult(UnwrapKey(algorithm, wrapped, cancellationToken));

        private static void Check(string algorithm)
        {
            if (algorithm != Algorithm) throw new NotSupportedException($"Local keys wrap with {Algorithm}, not {algorithm}.");
        }
    }
}
