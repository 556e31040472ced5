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

    public Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation)
    {
        lock (_gate)
        {
            var folder = TenantFolder(tenantId);
            Directory.CreateDirectory(folder);
            var version = Directory.GetFiles(folder, "kek-v*.bin").Length + 1;
            var kek = RandomNumberGenerator.GetBytes(32);
            WriteOwnerOnly(Path.Combine(folder, $"kek-v{version}.bin"), WrapWithRoot(kek));
            CryptographicOperations.ZeroMemory(kek);
            return Task.FromResult($"{Prefix}{tenantId}/kek-v{version}");
        }
    }

    public Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation)
    {
        lock (_gate)
        {
            var folder = TenantFolder(tenantId);
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
            try
            {
                WriteOwnerOnly(path, RandomNumberGenerator.GetBytes(32), FileMode.CreateNew);
            }
            catch (IOException) when (File.Exists(path))
            {
                // another process created it first; use theirs
            }
        }
        var root = File.ReadAllBytes(path);
        if (root.Length != 32) throw new InvalidOperationException($"{path} is not a 256-bit key.");
        return root;
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
