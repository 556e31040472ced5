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
    IReadOnlyList<string> Warnings)
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
    public static VerificationReport Verify(AuditBundle bundle, NoteKey key, string? trustedCheckpoint = null)
    {
        var problems = new List<VerificationProblem>();
        var warnings = new List<string>();
        if (bundle.Format != AuditBundle.CurrentFormat)
            problems.Add(new("format", null, null, $"Unknown bundle format '{bundle.Format}'."));

        // 1. Checkpoints: signed by the key, of this tenant's log, growing.
        var checkpoints = new List<Checkpoint>();
        for (var i = 0; i < bundle.Checkpoints.Count; i++)
        {
            if (Open(bundle.Checkpoints[i], key, bundle.Origin) is not { } checkpoint)
            {
                problems.Add(new("checkpoint-signature", null, null, $"Checkpoint #{i} is not signed by {key.Name} for {bundle.Origin}."));
                continue;
            }
            if (checkpoints.Count > 0 && checkpoint.Size <= checkpoints[^1].Size)
                problems.Add(new("checkpoint-order", null, null, $"Checkpoint #{i} (size {checkpoint.Size}) does not grow the log (previous {checkpoints[^1].Size})."));
            checkpoints.Add(checkpoint);
        }
        Checkpoint? trusted = null;
        if (trustedCheckpoint is not null)
        {
            trusted = Open(trustedCheckpoint, key, bundle.Origin);
            if (trusted is null) problems.Add(new("checkpoint-signature", null, null, "The trusted checkpoint is not signed by the key for this log."));
        }

        // 2. The chain: each consecutive pair proven consistent by the bundle's proofs (append-only, without the leaves).
        for (var i = 1; i < checkpoints.Count; i++)
        {
            var (a, b) = (checkpoints[i - 1], checkpoints[i]);
            var proof = bundle.Consistency.FirstOrDefault(c => c.From == a.Size && c.To == b.Size);
            if (proof is null || a.Size == 0 ||
                !MerkleProof.VerifyConsistency((ulong)a.Size, (ulong)b.Size, proof.Proof, a.Root, b.Root))
                if (a.Size != 0)
                    problems.Add(new("checkpoint-consistency", null, null, $"Checkpoints of sizes {a.Size} and {b.Size} are not proven consistent: the log was rewritten between them."));
        }

        // 3. Entries: gap-free, each event present and matching its leaf.
        var tree = new MerkleTree();
        long expected = 0;
        var logged = bundle.Entries.Where(e => e.Index is not null).ToList();
        // Recomputing the leaves is the bulk of the work and independent per entry: on every core.
        var recomputed = new byte[logged.Count][];
        Parallel.For(0, logged.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            if (logged[i].Event is { } e) recomputed[i] = LedgerLeaf.Hash(bundle.TenantId, logged[i].Index!.Value, e);
        });
        for (var position = 0; position < logged.Count; position++)
        {
            var entry = logged[position];
            var index = entry.Index!.Value;
            if (index != expected)
            {
                problems.Add(new("gap", expected, null, $"Log entry {expected} is missing (the next one is {index}): the log was cut."));
                break;
            }
            if (entry.LeafHash is not { Length: MerkleHash.Size } leaf)
            {
                problems.Add(new("leaf", index, entry.Event?.Seq, $"Entry {index} has no leaf hash."));
                break;
            }
            if (entry.Event is null)
                problems.Add(new("removed", index, null, $"Entry {index}: the event is gone from the store (deleted)."));
            else if (!recomputed[position].AsSpan().SequenceEqual(leaf))
                problems.Add(new("altered", index, entry.Event.Seq,
                    $"Entry {index} (seq {entry.Event.Seq}, stream {entry.Event.Stream}, version {entry.Event.Version}): the event as stored does not match its leaf " +
                    "(its payload or metadata was altered, or events were reordered)."));
            tree.Append(leaf);
            expected++;
        }
        foreach (var orphan in bundle.Entries.Where(e => e.Index is null && e.Event is not null))
            problems.Add(new("inserted", null, orphan.Event!.Seq,
                $"Event seq {orphan.Event.Seq} (stream {orphan.Event.Stream}, version {orphan.Event.Version}) is in the store but not in the log: inserted behind the ledger's back."));

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
        return new VerificationReport(ordered.Count == 0, tree.Size, checkpoints.Count, checkpoints.Count == 0 ? null : checkpoints[^1].Size, ordered, warnings);
    }

    /// <summary>The earliest position a rewrite can be pinned to: the size of the last checkpoint whose root still matches.</summary>
    private static long FirstDifference(MerkleTree tree, List<Checkpoint> checkpoints, Checkpoint bad) =>
        checkpoints.Where(c => c.Size < bad.Size && c.Size <= tree.Size && tree.Root(c.Size).AsSpan().SequenceEqual(c.Root))
            .Select(c => c.Size).DefaultIfEmpty(0).Max();

    private static Checkpoint? Open(string note, NoteKey key, string origin) =>
        key.Open(note) is { } text && Checkpoint.Parse(text) is { } checkpoint && checkpoint.Origin == origin ? checkpoint : null;
}
