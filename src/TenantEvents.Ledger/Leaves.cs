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

    private static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The origin line of a tenant's checkpoints: the log's name, unique per platform and tenant.</summary>
    public static string Origin(string platform, Guid tenant) => $"{platform}/audit/{tenant:D}";
}
