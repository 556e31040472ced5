using System.Security.Cryptography;
using System.Text;

namespace TenantEvents.Keys;

/// <summary>
/// Sealed bytes as stored: the data-key version that sealed them, a fresh 96-bit nonce, and the AES-256-GCM ciphertext
/// with its 128-bit tag appended (base64 in JSON).
/// </summary>
public sealed record SealedPayload(int KeyVersion, byte[] Nonce, byte[] Ciphertext);

/// <summary>
/// AES-256-GCM with associated data that binds a ciphertext to where it belongs: tenant, stream, record type and key
/// version. Moved to another tenant, stream or type, it no longer authenticates.
/// </summary>
public static class Sealing
{
    public const int NonceSize = 12;
    public const int TagSize = 16;

    public static byte[] AssociatedData(Guid tenant, Guid stream, string type, int keyVersion) =>
        Encoding.UTF8.GetBytes($"tenantevents/v1\n{tenant:D}\n{stream:D}\n{type}\n{keyVersion}");

    public static SealedPayload Seal(DataKey key, ReadOnlySpan<byte> plaintext, Guid stream, string type)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var output = new byte[plaintext.Length + TagSize];
        key.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length),
            AssociatedData(key.TenantId, stream, type, key.Version));
        return new SealedPayload(key.Version, nonce, output);
    }

    /// <summary>Throws <see cref="IntegrityViolationException"/> if the bytes were altered or moved.</summary>
    public static byte[] Open(DataKey key, SealedPayload sealedPayload, Guid stream, string type)
    {
        if (sealedPayload.KeyVersion != key.Version || sealedPayload.Nonce.Length != NonceSize || sealedPayload.Ciphertext.Length < TagSize)
            throw new IntegrityViolationException(key.TenantId, stream, type);
        var length = sealedPayload.Ciphertext.Length - TagSize;
        var plaintext = new byte[length];
        try
        {
            key.Decrypt(sealedPayload.Nonce, sealedPayload.Ciphertext.AsSpan(0, length), sealedPayload.Ciphertext.AsSpan(length), plaintext,
                AssociatedData(key.TenantId, stream, type, key.Version));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new IntegrityViolationException(key.TenantId, stream, type);
        }
        return plaintext;
    }
}

/// <summary>
/// Sealed data that does not authenticate where it is stored: altered, or moved from another tenant, stream or record
/// type. Nothing of it is returned; the request fails as a server-side integrity fault.
/// </summary>
public sealed class IntegrityViolationException(Guid tenant, Guid stream, string type)
    : Exception($"Sealed {type} in stream {stream} of tenant {tenant} does not authenticate: altered or moved.")
{
}

/// <summary>An unwrapped data-encryption key of one tenant, one version. Holds one AesGcm, used under a lock.</summary>
public sealed class DataKey(Guid tenantId, int version, byte[] key) : IDisposable
{
    private readonly AesGcm _aes = new(key, Sealing.TagSize);
    private readonly object _gate = new();
    // A key of its own for blind-index tokens (searchable fields of sealed records), derived so the data key is never
    // used for two purposes; it dies with the data key when the tenant is shredded.
    private readonly byte[] _index = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: "tenantevents:blind-index:v1"u8.ToArray());
    // And one for the digests of content withheld from a reader (Audit/ContentDisclosure): only the tenant can check them.
    private readonly byte[] _digest = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: "tenantevents:content-digest:v1"u8.ToArray());
    // And one for the MAC of the tenant's access state (Organisations/AccessSeal): the service's database role can write
    // the access tables, but without this key it cannot make a change to them that the service will accept.
    private readonly byte[] _access = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: "tenantevents:access-state:v1"u8.ToArray());
    // The access graph's rows are hashed under a key of their own before they are combined (AccessGraph.StateDigest).
    private readonly byte[] _accessRow = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: "tenantevents:access-row:v1"u8.ToArray());

    public Guid TenantId { get; } = tenantId;
    public int Version { get; } = version;

    internal void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        lock (_gate) _aes.Encrypt(nonce, plaintext, ciphertext, tag, aad);
    }

    internal void Decrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        lock (_gate) _aes.Decrypt(nonce, ciphertext, tag, plaintext, aad);
    }

    /// <summary>
    /// A blind-index token of a normalised term: HMAC-SHA-256 under the key's index key, first 16 bytes, hex. Equal terms
    /// of one tenant give equal tokens; nothing about the term can be learnt without the key.
    /// </summary>
    public string IndexToken(string term)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_index, System.Text.Encoding.UTF8.GetBytes(term), mac);
        return Convert.ToHexStringLower(mac[..16]);
    }

    /// <summary>A keyed digest of withheld content: HMAC-SHA-256 under the key's digest key, hex.</summary>
    public string ContentDigest(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(HMACSHA256.HashData(_digest, content));

    /// <summary>HMAC-SHA-256 under the key's access-state key (Organisations/AccessSeal).</summary>
    public byte[] AccessStateMac(ReadOnlySpan<byte> state) => HMACSHA256.HashData(_access, state);

    /// <summary>HMAC-SHA-256 of one access row under the key's access-row key.</summary>
    public void AccessRowHash(ReadOnlySpan<byte> row, Span<byte> destination) => HMACSHA256.HashData(_accessRow, row, destination);

    public void Dispose() => _aes.Dispose();
}
