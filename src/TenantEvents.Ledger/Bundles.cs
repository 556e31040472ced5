using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TenantEvents.Ledger;

/// <summary>One position of the log in an export: the logged leaf hash and the event the store holds for it (either may be missing).</summary>
public sealed record BundleEntry(long? Index, byte[]? LeafHash, LedgerEvent? Event);

/// <summary>The consistency proof between two consecutive checkpoints of the bundle.</summary>
public sealed record BundleConsistency(long From, long To, IReadOnlyList<byte[]> Proof);

/// <summary>
/// An audit export of one tenant: every signed checkpoint (oldest first) with the consistency proofs that chain them,
/// every position of the log with its event as stored, events the store holds that the log does not (Index null), and,
/// when the tenant's keys still exist, the audit entries (before, after, JSON Patch) for replay.
/// </summary>
public sealed record AuditBundle(
    string Format, Guid TenantId, string Origin, DateTimeOffset ExportedAt, IReadOnlyList<string> LogKeys,
    IReadOnlyList<string> Checkpoints, IReadOnlyList<BundleConsistency> Consistency, IReadOnlyList<BundleEntry> Entries,
    IReadOnlyList<JsonObject>? AuditEntries = null)
{
    public const string CurrentFormat = "tenantevents-audit-bundle/v1";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>What is wrong at a position of the log (or with a checkpoint).</summary>
public sealed record VerificationProblem(string Kind, long? Index, long? Seq, string Message);

public sealed record VerificationReport(bool Verified, long Entries, int Checkpoints, long? SignedSize, IReadOnlyList<VerificationProblem> Problems,
    IReadOnlyList<string> Warnings, string Origin = "")
{
    public VerificationProblem? FirstBad => Problems.Count == 0 ? null : Problems[0];
}

/// <summary>
/// Offline verification of an export with the platform's public log key: every checkpoint's signature, the consistency
/// of the checkpoint chain, every entry's leaf recomputed from the event as stored, the gap-free indexes, the roots at
/// every checkpoint size (which proves every entry's inclusion), and events that were slipped in beside the log.
/// Problems are ordered by position: the first is the first bad entry.
/// </summary>
public static class BundleVerifier
{
    /// <summary>One position of the log as the checks need it: the logged leaf, and the leaf recomputed from the stored event.</summary>
    private sealed record EntryCheck(long? Index, byte[]? LeafHash, byte[]? Recomputed, long? Seq, Guid Stream, long Version);

    public static VerificationReport Verify(AuditBundle bundle, NoteKey key, string? trustedCheckpoint = null)
    {
        var logged = bundle.Entries.Where(e => e.Index is not null).ToList();
        // Recomputing the leaves is the bulk of the work and independent per entry: on every core.
        var recomputed = new byte[logged.Count][];
        Parallel.For(0, logged.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            if (logged[i].Event is { } e) recomputed[i] = LedgerLeaf.Hash(bundle.TenantId, logged[i].Index!.Value, e);
        });
        var checks = logged.Select((e, i) => new EntryCheck(e.Index, e.LeafHash, recomputed[i], e.Event?.Seq, e.Event?.Stream ?? Guid.Empty, e.Event?.Version ?? 0))
            .Concat(bundle.Entries.Where(e => e.Index is null && e.Event is not null)
                .Select(e => new EntryCheck(null, null, null, e.Event!.Seq, e.Event.Stream, e.Event.Version)))
            .ToList();
        return Core(bundle.Format, bundle.Origin, bundle.Checkpoints, bundle.Consistency, checks, key, trustedCheckpoint);
    }

    /// <summary>
    /// The same verification straight from an export file, without building the bundle in memory: each entry's leaf is
    /// recomputed from the UTF-8 bytes as they are read (what `tenantevents-audit verify` runs; a large export parses
    /// several times faster this way). Audit entries, which verification does not need, are skipped.
    /// </summary>
    public static VerificationReport VerifyFile(string path, NoteKey key, string? trustedCheckpoint = null)
    {
        var bytes = File.ReadAllBytes(path);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 256 });
        string format = "", origin = "";
        var tenant = Guid.Empty;
        var checkpoints = new List<string>();
        var consistency = new List<BundleConsistency>();
        var checks = new List<EntryCheck>();
        var scratch = new LeafScratch();
        Expect(ref reader, JsonTokenType.StartObject);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "format": format = reader.GetString() ?? ""; break;
                case "origin": origin = reader.GetString() ?? ""; break;
                case "tenantId": tenant = reader.GetGuid(); break;
                case "checkpoints":
                    while (reader.Read() && reader.TokenType == JsonTokenType.String) checkpoints.Add(reader.GetString()!);
                    break;
                case "consistency":
                    consistency = JsonSerializer.Deserialize<List<BundleConsistency>>(ref reader, AuditBundle.Json) ?? [];
                    break;
                case "entries":
                    if (tenant == Guid.Empty) throw new FormatException("The bundle names its tenant before its entries.");
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartObject) checks.Add(ReadEntry(ref reader, tenant, scratch));
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        return Core(format, origin, checkpoints, consistency, checks, key, trustedCheckpoint);
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (!reader.Read() || reader.TokenType != type) throw new FormatException($"Expected {type} at byte {reader.TokenStartIndex}.");
    }

    /// <summary>Buffers reused across entries: each field's unescaped UTF-8 bytes.</summary>
    private sealed class LeafScratch
    {
        public byte[] Data = new byte[4096];
        public byte[] Headers = new byte[1024];
        public readonly byte[][] Text = [new byte[256], new byte[256], new byte[256], new byte[256], new byte[256]];
        public byte[] Leaf = new byte[8192];
    }

    private static int Copy(ref Utf8JsonReader reader, ref byte[] buffer)
    {
        var needed = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (buffer.Length < needed) buffer = new byte[Math.Max(needed, buffer.Length * 2)];
        return reader.CopyString(buffer);
    }

    private static EntryCheck ReadEntry(ref Utf8JsonReader reader, Guid tenant, LeafScratch scratch)
    {
        long? index = null;
        byte[]? leafHash = null;
        var hasEvent = false;
        long seq = 0, version = 0;
        Guid id = Guid.Empty, stream = Guid.Empty;
        int type = -1, time = -1, correlation = -1, causation = -1, user = -1, headers = -1, data = -1;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // Property names are matched in place (no string per name: an export has millions).
            if (reader.ValueTextEquals("index"u8)) { reader.Read(); index = reader.GetInt64(); }
            else if (reader.ValueTextEquals("leafHash"u8)) { reader.Read(); leafHash = reader.GetBytesFromBase64(); }
            else if (reader.ValueTextEquals("event"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject) { reader.Skip(); continue; }
                hasEvent = true;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var which = reader.ValueTextEquals("seq"u8) ? 0 : reader.ValueTextEquals("id"u8) ? 1 : reader.ValueTextEquals("stream"u8) ? 2
                        : reader.ValueTextEquals("version"u8) ? 3 : reader.ValueTextEquals("type"u8) ? 4 : reader.ValueTextEquals("time"u8) ? 5
                        : reader.ValueTextEquals("correlationId"u8) ? 6 : reader.ValueTextEquals("causationId"u8) ? 7
                        : reader.ValueTextEquals("userName"u8) ? 8 : reader.ValueTextEquals("headers"u8) ? 9 : reader.ValueTextEquals("data"u8) ? 10 : -1;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) continue;
                    switch (which)
                    {
                        case 0: seq = reader.GetInt64(); break;
                        case 1: id = reader.GetGuid(); break;
                        case 2: stream = reader.GetGuid(); break;
                        case 3: version = reader.GetInt64(); break;
                        case 4: type = Copy(ref reader, ref scratch.Text[0]); break;
                        case 5: time = Copy(ref reader, ref scratch.Text[1]); break;
                        case 6: correlation = Copy(ref reader, ref scratch.Text[2]); break;
                        case 7: causation = Copy(ref reader, ref scratch.Text[3]); break;
                        case 8: user = Copy(ref reader, ref scratch.Text[4]); break;
                        case 9: headers = Copy(ref reader, ref scratch.Headers); break;
                        case 10: data = Copy(ref reader, ref scratch.Data); break;
                        default: reader.Skip(); break;
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (!hasEvent || index is null) return new EntryCheck(index, leafHash, null, hasEvent ? seq : null, stream, version);
        if (type < 0 || time < 0 || data < 0) throw new FormatException($"Entry {index}: the event lacks its type, time or data.");
        var leaf = LedgerLeaf.HashUtf8(tenant, index.Value, seq, id, stream, version, scratch.Text[0].AsSpan(0, type), scratch.Text[1].AsSpan(0, time),
            correlation >= 0, scratch.Text[2].AsSpan(0, Math.Max(correlation, 0)), causation >= 0, scratch.Text[3].AsSpan(0, Math.Max(causation, 0)),
            user >= 0, scratch.Text[4].AsSpan(0, Math.Max(user, 0)), headers >= 0, scratch.Headers.AsSpan(0, Math.Max(headers, 0)),
            scratch.Data.AsSpan(0, data), ref scratch.Leaf);
        return new EntryCheck(index, leafHash, leaf, seq, stream, version);
    }

    private static VerificationReport Core(string format, string origin, IReadOnlyList<string> notes, IReadOnlyList<BundleConsistency> consistency,
        IReadOnlyList<EntryCheck> entries, NoteKey key, string? trustedCheckpoint)
    {
        var problems = new List<VerificationProblem>();
        var warnings = new List<string>();
        if (format != AuditBundle.CurrentFormat)
            problems.Add(new("format", null, null, $"Unknown bundle format '{format}'."));

        // 1. Checkpoints: signed by the key, of this tenant's log, growing.
        var checkpoints = new List<Checkpoint>();
        for (var i = 0; i < notes.Count; i++)
        {
            if (Open(notes[i], key, origin) is not { } checkpoint)
            {
                problems.Add(new("checkpoint-signature", null, null, $"Checkpoint #{i} is not signed by {key.Name} for {origin}."));
                continue;
            }
            if (checkpoints.Count > 0 && checkpoint.Size <= checkpoints[^1].Size)
                problems.Add(new("checkpoint-order", null, null, $"Checkpoint #{i} (size {checkpoint.Size}) does not grow the log (previous {checkpoints[^1].Size})."));
            checkpoints.Add(checkpoint);
        }
        Checkpoint? trusted = null;
        if (trustedCheckpoint is not null)
        {
            trusted = Open(trustedCheckpoint, key, origin);
            if (trusted is null) problems.Add(new("checkpoint-signature", null, null, "The trusted checkpoint is not signed by the key for this log."));
        }

        // 2. The chain: each consecutive pair proven consistent by the bundle's proofs (append-only, without the leaves).
        for (var i = 1; i < checkpoints.Count; i++)
        {
            var (a, b) = (checkpoints[i - 1], checkpoints[i]);
            if (a.Size == 0) continue;
            var proof = consistency.FirstOrDefault(c => c.From == a.Size && c.To == b.Size);
            if (proof is null || !MerkleProof.VerifyConsistency((ulong)a.Size, (ulong)b.Size, proof.Proof, a.Root, b.Root))
                problems.Add(new("checkpoint-consistency", null, null, $"Checkpoints of sizes {a.Size} and {b.Size} are not proven consistent: the log was rewritten between them."));
        }

        // 3. Entries: gap-free, each event present and matching its leaf.
        var tree = new MerkleTree();
        long expected = 0;
        foreach (var entry in entries.Where(e => e.Index is not null))
        {
            var index = entry.Index!.Value;
            if (index != expected)
            {
                problems.Add(new("gap", expected, null, $"Log entry {expected} is missing (the next one is {index}): the log was cut."));
                break;
            }
            if (entry.LeafHash is not { Length: MerkleHash.Size } leaf)
            {
                problems.Add(new("leaf", index, entry.Seq, $"Entry {index} has no leaf hash."));
                break;
            }
            if (entry.Recomputed is null)
                problems.Add(new("removed", index, null, $"Entry {index}: the event is gone from the store (deleted)."));
            else if (!entry.Recomputed.AsSpan().SequenceEqual(leaf))
                problems.Add(new("altered", index, entry.Seq,
                    $"Entry {index} (seq {entry.Seq}, stream {entry.Stream}, version {entry.Version}): the event as stored does not match its leaf " +
                    "(its payload or metadata was altered, or events were reordered)."));
            tree.Append(leaf);
            expected++;
        }
        foreach (var orphan in entries.Where(e => e.Index is null && e.Seq is not null))
            problems.Add(new("inserted", null, orphan.Seq,
                $"Event seq {orphan.Seq} (stream {orphan.Stream}, version {orphan.Version}) is in the store but not in the log: inserted behind the ledger's back."));

        // 4. Roots: every checkpoint's root is the root of the leaves up to its size (inclusion of every entry).
        foreach (var checkpoint in trusted is null ? checkpoints : [.. checkpoints, trusted])
        {
            if (checkpoint.Size > tree.Size)
            {
                problems.Add(new("truncated", tree.Size, null,
                    $"A checkpoint signed {checkpoint.Size} entries but the log holds {tree.Size}: entries from {tree.Size} on were removed."));
                continue;
            }
            if (!tree.Root(checkpoint.Size).AsSpan().SequenceEqual(checkpoint.Root))
                problems.Add(new("root", FirstDifference(tree, checkpoints, checkpoint), null,
                    $"The log's root at size {checkpoint.Size} is not the signed one: the log's leaves were rewritten below {checkpoint.Size}."));
        }
        if (checkpoints.Count == 0) warnings.Add("The bundle holds no checkpoint: nothing is signed yet.");
        else if (checkpoints[^1].Size < tree.Size)
            warnings.Add($"Entries {checkpoints[^1].Size}..{tree.Size - 1} are after the last checkpoint: their leaves match their events but no signature covers them yet.");

        var ordered = problems.OrderBy(p => p.Index ?? long.MaxValue).ThenBy(p => p.Seq ?? long.MaxValue).ToList();
        return new VerificationReport(ordered.Count == 0, tree.Size, checkpoints.Count, checkpoints.Count == 0 ? null : checkpoints[^1].Size, ordered, warnings,
            origin);
    }

    /// <summary>The earliest position a rewrite can be pinned to: the size of the last checkpoint whose root still matches.</summary>
    private static long FirstDifference(MerkleTree tree, List<Checkpoint> checkpoints, Checkpoint bad) =>
        checkpoints.Where(c => c.Size < bad.Size && c.Size <= tree.Size && tree.Root(c.Size).AsSpan().SequenceEqual(c.Root))
            .Select(c => c.Size).DefaultIfEmpty(0).Max();

    private static Checkpoint? Open(string note, NoteKey key, string origin) =>
        key.Open(note) is { } text && Checkpoint.Parse(text) is { } checkpoint && checkpoint.Origin == origin ? checkpoint : null;
}
