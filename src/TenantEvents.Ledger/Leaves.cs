using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TenantEvents.Ledger;

/// <summary>
/// One stored event as the ledger sees it: its place in the tenant's log, its metadata, and its payload exactly as stored
/// (the sealed JSON, as PostgreSQL renders the jsonb). Times are written as the database writes them into the leaf:
/// UTC, microseconds, "2026-11-28T09:00:00.000000Z".
/// </summary>
public sealed record LedgerEvent(
    long Seq, Guid Id, Guid Stream, long Version, string Type, string Time, string? CorrelationId, string? CausationId, string? UserName,
    string? Headers, string Data);

/// <summary>
/// The leaf of an event in its tenant's log. The leaf data commits to the tenant, the log index, the event's sequence
/// number, id, stream, version, type, time, correlation and causation ids, user name, and the SHA-256 of its headers and
/// of its stored payload, so it still verifies when the payload can no longer be opened (the tenant crypto-shredded).
/// Each field is written "length:value\n" (bytes of UTF-8), an absent one "-\n". The database computes the same bytes
/// (audit_leaf_data in the schema); <see cref="Data"/> is the reference an auditor reimplements.
/// </summary>
public static class LedgerLeaf
{
    public const string Domain = "tenantevents/audit-leaf/v1";

    public static byte[] Data(Guid tenant, long index, LedgerEvent e)
    {
        var buffer = new byte[1024];
        var length = Write(tenant, index, e.Seq, e.Id, e.Stream, e.Version, Encoding.UTF8.GetBytes(e.Type), Encoding.UTF8.GetBytes(e.Time),
            e.CorrelationId is not null, Bytes(e.CorrelationId), e.CausationId is not null, Bytes(e.CausationId), e.UserName is not null, Bytes(e.UserName),
            e.Headers is not null, Bytes(e.Headers), Encoding.UTF8.GetBytes(e.Data), ref buffer);
        return buffer[..length];
    }

    private static byte[] Bytes(string? text) => text is null ? [] : Encoding.UTF8.GetBytes(text);

    /// <summary>The reference form of <see cref="Data"/>, written for reading rather than speed; the tests hold them equal.</summary>
    public static byte[] ReferenceData(Guid tenant, long index, LedgerEvent e)
    {
        var text = new StringBuilder(512);
        text.Append(Domain).Append('\n');
        void Field(string? v)
        {
            if (v is null) text.Append("-\n");
            else text.Append(Encoding.UTF8.GetByteCount(v).ToString(CultureInfo.InvariantCulture)).Append(':').Append(v).Append('\n');
        }
        Field(tenant.ToString("D"));
        Field(index.ToString(CultureInfo.InvariantCulture));
        Field(e.Seq.ToString(CultureInfo.InvariantCulture));
        Field(e.Id.ToString("D"));
        Field(e.Stream.ToString("D"));
        Field(e.Version.ToString(CultureInfo.InvariantCulture));
        Field(e.Type);
        Field(e.Time);
        Field(e.CorrelationId);
        Field(e.CausationId);
        Field(e.UserName);
        Field(e.Headers is null ? null : Hex(e.Headers));
        Field(Hex(e.Data));
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static byte[] Hash(Guid tenant, long index, LedgerEvent e) => MerkleHash.Leaf(Data(tenant, index, e));

    /// <summary>
    /// The leaf hash from the event's fields as UTF-8 bytes (as a JSON reader unescapes them), written into a reused
    /// buffer: the same bytes as <see cref="Data"/>, without a string per field.
    /// </summary>
    public static byte[] HashUtf8(Guid tenant, long index, long seq, Guid id, Guid stream, long version, ReadOnlySpan<byte> type, ReadOnlySpan<byte> time,
        byte[]? correlation, byte[]? causation, byte[]? user, byte[]? headers, ReadOnlySpan<byte> data, ref byte[] buffer) =>
        HashUtf8(tenant, index, seq, id, stream, version, type, time, correlation is not null, correlation, causation is not null, causation,
            user is not null, user, headers is not null, headers, data, ref buffer);

    /// <summary>As above, each optional field given by a presence flag and its bytes (no array per field).</summary>
    public static byte[] HashUtf8(Guid tenant, long index, long seq, Guid id, Guid stream, long version, ReadOnlySpan<byte> type, ReadOnlySpan<byte> time,
        bool hasCorrelation, ReadOnlySpan<byte> correlation, bool hasCausation, ReadOnlySpan<byte> causation, bool hasUser, ReadOnlySpan<byte> user,
        bool hasHeaders, ReadOnlySpan<byte> headers, ReadOnlySpan<byte> data, ref byte[] buffer)
    {
        var length = Write(tenant, index, seq, id, stream, version, type, time, hasCorrelation, correlation, hasCausation, causation, hasUser, user,
            hasHeaders, headers, data, ref buffer);
        return MerkleHash.Leaf(buffer.AsSpan(0, length));
    }

    /// <summary>The leaf data written into <paramref name="buffer"/> (grown if needed); its length.</summary>
    private static int Write(Guid tenant, long index, long seq, Guid id, Guid stream, long version, ReadOnlySpan<byte> type, ReadOnlySpan<byte> time,
        bool hasCorrelation, ReadOnlySpan<byte> correlation, bool hasCausation, ReadOnlySpan<byte> causation, bool hasUser, ReadOnlySpan<byte> user,
        bool hasHeaders, ReadOnlySpan<byte> headers, ReadOnlySpan<byte> data, ref byte[] buffer)
    {
        Span<byte> digest = stackalloc byte[32];
        Span<byte> dataHex = stackalloc byte[64];
        Span<byte> headersHex = stackalloc byte[64];
        SHA256.HashData(data, digest);
        HexLower(digest, dataHex);
        if (hasHeaders)
        {
            SHA256.HashData(headers, digest);
            HexLower(digest, headersHex);
        }
        var needed = 64 + 16 * 24 + type.Length + time.Length + correlation.Length + causation.Length + user.Length + 3 * 36 + 128;
        if (buffer.Length < needed) buffer = new byte[needed * 2];
        var at = 0;
        var b = buffer;
        void Raw(ReadOnlySpan<byte> bytes) { bytes.CopyTo(b.AsSpan(at)); at += bytes.Length; }
        void Field(ReadOnlySpan<byte> value)
        {
            value.Length.TryFormat(b.AsSpan(at), out var w, provider: CultureInfo.InvariantCulture);
            at += w;
            b[at++] = (byte)':';
            Raw(value);
            b[at++] = (byte)'\n';
        }
        void Absent() { b[at++] = (byte)'-'; b[at++] = (byte)'\n'; }
        Span<byte> number = stackalloc byte[36];
        Raw("tenantevents/audit-leaf/v1\n"u8);
        tenant.TryFormat(number, out var n, "D"); Field(number[..n]);
        index.TryFormat(number, out n, provider: CultureInfo.InvariantCulture); Field(number[..n]);
        seq.TryFormat(number, out n, provider: CultureInfo.InvariantCulture); Field(number[..n]);
        id.TryFormat(number, out n, "D"); Field(number[..n]);
        stream.TryFormat(number, out n, "D"); Field(number[..n]);
        version.TryFormat(number, out n, provider: CultureInfo.InvariantCulture); Field(number[..n]);
        Field(type);
        Field(time);
        if (!hasCorrelation) Absent(); else Field(correlation);
        if (!hasCausation) Absent(); else Field(causation);
        if (!hasUser) Absent(); else Field(user);
        if (!hasHeaders) Absent(); else Field(headersHex);
        Field(dataHex);
        return at;
    }

    private static void HexLower(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        const string digits = "0123456789abcdef";
        for (var i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = (byte)digits[bytes[i] >> 4];
            destination[2 * i + 1] = (byte)digits[bytes[i] & 0xF];
        }
    }

    private static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The origin line of a tenant's checkpoints: the log's name, unique per platform and tenant.</summary>
    public static string Origin(string platform, Guid tenant) => $"{platform}/audit/{tenant:D}";
}
