using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Ledger;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

public sealed record CheckpointView(long TreeSize, string RootHash, string Note, DateTimeOffset CreatedAt)
{
    public static CheckpointView Of(StoredCheckpoint c) => new(c.Size, Convert.ToBase64String(c.Root), c.Note, c.CreatedAt);
}

/// <param name="LeafData">The leaf's input (LedgerLeaf.Data: tenant, index, sequence, event id, stream, version, type, time,
/// ids, and the SHA-256 of the stored headers and payload), so a verifier hashes the leaf itself and sees which event it is.</param>
public sealed record InclusionProofView(Guid? EventId, long LeafIndex, long TreeSize, string LeafHash, IReadOnlyList<string> Proof, string RootHash,
    CheckpointView? Checkpoint, string? LeafData = null);

public sealed record ConsistencyProofView(long From, long To, IReadOnlyList<string> Proof, CheckpointView? FromCheckpoint, CheckpointView? ToCheckpoint);

public sealed record LogKeyView(string Name, string KeyId, string VerifierKey, string Algorithm, IReadOnlyList<string> AllVerifierKeys);

/// <summary>The ledger's API: the log key, checkpoints, proofs, and the export bundle an auditor verifies offline.</summary>
public static class AuditLedgerEndpoints
{
    /// <summary>
    /// The public key that signs checkpoints now (c2sp.org/signed-note verifier key), and every one that signed before
    /// (a key whose KEK was lost is replaced). Public: auditors pin them.
    /// </summary>
    [WolverineGet("/api/audit/log-key", OperationId = "GetAuditLogKey")]
    [AllowAnonymous]
    public static async Task<LogKeyView> LogKey(AuditLog log, CancellationToken cancellation)
    {
        var key = await log.VerifierAsync(cancellation);
        return new LogKeyView(key.Name, key.Id.ToString("x8"), key.VerifierKey, "ECDSA P-256 SHA-256 (signed-note type 0x02)",
            await log.AllVerifierKeysAsync(cancellation));
    }

    /// <summary>The tenant's signed checkpoints, oldest first.</summary>
    [WolverineGet("/api/tenants/{tenantId}/audit/checkpoints", OperationId = "GetAuditCheckpoints")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Checkpoints(Guid tenantId, HttpContext http, TenantStreams streams, AuditLog log, CancellationToken cancellation)
    {
        if ((await AuditHttp.GuardAsync(http, tenantId, streams, cancellation)).Refusal is { } refusal) return refusal;
        var list = await log.CheckpointsAsync(tenantId, cancellation);
        return Results.Json(new { logSize = await log.SizeAsync(tenantId, cancellation), checkpoints = list.Select(CheckpointView.Of) }, Json.Options);
    }

    /// <summary>A checkpoint now (on demand): 201 with the new one, or 200 with the latest when the log has not grown.</summary>
    [WolverinePost("/api/tenants/{tenantId}/audit/checkpoints", OperationId = "CreateAuditCheckpoint")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Checkpoint(Guid tenantId, HttpContext http, TenantStreams streams, AuditLog log, CancellationToken cancellation)
    {
        if ((await AuditHttp.GuardAsync(http, tenantId, streams, cancellation)).Refusal is { } refusal) return refusal;
        var before = await log.LatestCheckpointAsync(tenantId, cancellation);
        StoredCheckpoint? checkpoint;
        try
        {
            checkpoint = await log.CheckpointAsync(tenantId, cancellation);
        }
        catch (AuditLogBrokenException e)
        {
            return Broken(e);
        }
        if (checkpoint is null) return Problem.NotFound("audit log entry").ToResult();
        var view = CheckpointView.Of(checkpoint);
        return before?.Size == checkpoint.Size ? Results.Json(view, Json.Options) : Results.Json(view, Json.Options, statusCode: 201);
    }

    /// <summary>
    /// The inclusion proof of an event (eventId) or log position (index) in the tree of treeSize (default: the latest
    /// checkpoint, which is made if the entry is not covered yet).
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/audit/proofs/inclusion", OperationId = "GetAuditInclusionProof")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Inclusion(Guid tenantId, HttpContext http, TenantStreams streams, AuditLog log, CancellationToken cancellation)
    {
        if ((await AuditHttp.GuardAsync(http, tenantId, streams, cancellation)).Refusal is { } refusal) return refusal;
        var request = http.Request;
        if (!AuditHttp.TryLong(request, "index", 0, out var index, out var error)) return error!;
        if (!AuditHttp.TryLong(request, "treeSize", 1, out var treeSize, out error)) return error!;
        Guid? eventId = null;
        if (request.Query["eventId"].ToString() is { Length: > 0 } text)
        {
            if (!Guid.TryParse(text, out var id)) return Problem.Validation("eventId", "invalid", "must be an event id (UUID).").ToResult();
            eventId = id;
        }
        if ((index is null) == (eventId is null))
            return Problem.Validation("eventId", "required", "give exactly one of eventId and index.").ToResult();
        if (eventId is { } e)
        {
            if (await log.IndexOfAsync(tenantId, e, cancellation) is not { } found) return Problem.NotFound("event").ToResult();
            index = found.Index;
        }
        var size = await log.SizeAsync(tenantId, cancellation);
        if (index >= size) return Problem.NotFound("audit log entry").ToResult();
        StoredCheckpoint? checkpoint;
        if (treeSize is null)
        {
            checkpoint = await log.LatestCheckpointAsync(tenantId, cancellation);
            if (checkpoint is null || checkpoint.Size <= index)
            {
                try
                {
                    checkpoint = await log.CheckpointAsync(tenantId, cancellation);
                }
                catch (AuditLogBrokenException broken)
                {
                    return Broken(broken);
                }
            }
            treeSize = checkpoint!.Size;
        }
        else
        {
            if (treeSize > size)
                return Problem.Validation("treeSize", "out-of-range", $"the log holds {size} entries.").ToResult();
            if (index >= treeSize)
                return Problem.Validation("treeSize", "out-of-range", $"entry {index} is not in a tree of {treeSize}.").ToResult();
            checkpoint = (await log.CheckpointsAsync(tenantId, cancellation)).FirstOrDefault(c => c.Size == treeSize);
        }
        var (leaf, proof, root) = await log.InclusionAsync(tenantId, index!.Value, treeSize.Value, cancellation);
        var data = await log.LeafDataAsync(tenantId, index.Value, cancellation);
        return Results.Json(new InclusionProofView(eventId, index.Value, treeSize.Value, Convert.ToBase64String(leaf), proof.Select(Convert.ToBase64String).ToList(),
            Convert.ToBase64String(root), checkpoint is null ? null : CheckpointView.Of(checkpoint), data is null ? null : Convert.ToBase64String(data)), Json.Options);
    }

    /// <summary>The consistency proof between two tree sizes (typically two checkpoints): the larger extends the smaller.</summary>
    [WolverineGet("/api/tenants/{tenantId}/audit/proofs/consistency", OperationId = "GetAuditConsistencyProof")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Consistency(Guid tenantId, HttpContext http, TenantStreams streams, AuditLog log, CancellationToken cancellation)
    {
        if ((await AuditHttp.GuardAsync(http, tenantId, streams, cancellation)).Refusal is { } refusal) return refusal;
        if (!AuditHttp.TryLong(http.Request, "from", 1, out var from, out var error)) return error!;
        if (!AuditHttp.TryLong(http.Request, "to", 1, out var to, out error)) return error!;
        if (from is null) return Problem.Validation("from", "required", "give the smaller tree size.").ToResult();
        var size = await log.SizeAsync(tenantId, cancellation);
        to ??= (await log.LatestCheckpointAsync(tenantId, cancellation))?.Size ?? size;
        if (to > size) return Problem.Validation("to", "out-of-range", $"the log holds {size} entries.").ToResult();
        if (from > to) return Problem.Validation("from", "out-of-range", "must not be larger than to.").ToResult();
        var proof = await log.ConsistencyAsync(tenantId, from.Value, to.Value, cancellation);
        var checkpoints = await log.CheckpointsAsync(tenantId, cancellation);
        var a = checkpoints.FirstOrDefault(c => c.Size == from);
        var b = checkpoints.FirstOrDefault(c => c.Size == to);
        return Results.Json(new ConsistencyProofView(from.Value, to.Value, proof.Select(Convert.ToBase64String).ToList(),
            a is null ? null : CheckpointView.Of(a), b is null ? null : CheckpointView.Of(b)), Json.Options);
    }

    /// <summary>
    /// The export bundle for `audit verify` (a checkpoint is made first so that everything logged so far is signed).
    /// entries=false leaves the audit entries out (they are also left out once the tenant is shredded; the ledger
    /// itself still verifies).
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/audit/export", OperationId = "ExportAuditBundle")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Export(Guid tenantId, HttpContext http, TenantStreams streams, AuditLog log, AuditProjector projector,
        ContentDisclosure disclosure, CancellationToken cancellation)
    {
        var (refusal, record) = await AuditHttp.GuardAsync(http, tenantId, streams, cancellation);
        if (refusal is not null) return refusal;
        var withEntries = http.Request.Query["entries"].ToString() is not ("false" or "0") && !record!.Shredded
                          && await projector.CatchUpAsync(tenantId, cancellation);
        try
        {
            await log.CheckpointAsync(tenantId, cancellation);
        }
        catch (AuditLogBrokenException)
        {
            // Exported as it is, without a new signature: the auditor's tool names the lost entry.
        }
        var lens = withEntries ? await disclosure.ForCallerAsync(http.Caller(), tenantId, cancellation) : null;
        return new BundleResult(tenantId, log, withEntries ? projector : null, lens);
    }

    private static IResult Broken(AuditLogBrokenException e) =>
        new Problem("audit-log-broken", 409, "The audit log has lost an entry",
                "An entry of this tenant's audit log is missing: it was removed behind the service's back. Nothing more is signed; export the bundle and verify it.")
            .With("index", e.Index).ToResult();

    private sealed class BundleResult(Guid tenant, AuditLog log, AuditProjector? projector, DisclosureLens? lens) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            http.Response.ContentType = "application/json";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"audit-bundle-{tenant}.json\"";
            // The writer writes into the response's pipe (never to the stream by itself: Kestrel refuses synchronous
            // writes); each drain sends what is there.
            var pipe = http.Response.BodyWriter;
            async Task Drain(CancellationToken cancellation) => await pipe.FlushAsync(cancellation);
            await using var json = new Utf8JsonWriter(pipe);
            await log.WriteBundleAsync(tenant, json, projector is null ? null : async writer =>
            {
                writer.WriteStartArray();
                var query = new AuditQuery(null, null, null, null, null, null, AuditEntriesEndpoint.ExportBatch);
                while (true)
                {
                    var batch = await projector.QueryAsync(tenant, query, lens!, http.RequestAborted);
                    foreach (var entry in batch) JsonSerializer.Serialize(writer, entry, Json.Options);
                    writer.Flush();
                    await Drain(http.RequestAborted);
                    if (batch.Count < query.Limit) break;
                    query = query with { After = batch[^1].Index };
                }
                writer.WriteEndArray();
            }, http.RequestAborted, Drain);
        }
    }
}
