using System.Security.Cryptography;

namespace TenantEvents.Infrastructure;

/// <summary>Name-based identifiers (UUID version 8 from SHA-256): the same input always gives the same id.</summary>
public static class StableIds
{
    public static Guid From(ReadOnlySpan<byte> input)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    /// <summary>An id derived from another id and a purpose (the id's big-endian bytes, then the purpose's UTF-8).</summary>
    public static Guid From(Guid owner, string purpose) => From([.. owner.ToByteArray(true), .. System.Text.Encoding.UTF8.GetBytes(purpose)]);
}
