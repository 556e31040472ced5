using System.Text.Json;
using TenantEvents.Delivery;
using TenantEvents.GraphQL;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine;
using Wolverine.Runtime;

namespace TenantEvents.Manifests;

/// <summary>What a plan came to for the API: the plan, or why there is none.</summary>
public sealed record PlanOutcome(Guid? TenantId, PlannedManifest? Plan, LiveTenant? Live, Problem? Refusal);

/// <summary>
/// The edges of tenants as code: reads a tenant as the caller may (each area through its own GET route, the tree from
/// the organisation store), plans (<see cref="ManifestDecisions"/>), and applies a plan: the tree in one transaction at
/// the access version planned, everything else through its route as the caller, then the record of what the manifest
/// manages. Nothing here decides who may do what: the routes and <see cref="OrgCommands"/> do.
/// </summary>
public sealed class ManifestService(ApiInvoker api, TenantStreams streams, OrganisationStore organisations, TenantEventsOptions options,
    TenantEvents.Quotas.QuotaPolicies quotas, TenantEvents.Quotas.QuotaLedger ledger, TenantEvents.Domains.DomainIndex domainIndex,
    ILogger<ManifestService> logger)
{
    public const int MaxBytes = 8 * 1024 * 1024;

    public TenantStreams Streams => streams;

    public TenantEventsOptions Options => options;

    /// <summary>The tenant a manifest's slug names, if the caller may know it (else, as for a tenant that does not exist, null).</summary>
    public async Task<(Guid? Tenant, IResult? Hidden)> FindAsync(HttpContext http, string slug, CancellationToken cancellation)
    {
        if (await streams.Directory.TenantOfSlugAsync(slug, cancellation) is not { } tenant) return (null, null);
        return await TenantHttp.InvisibleAsync(http, tenant, Permissions.OrgRead, cancellation) is { } hidden ? (null, hidden) : (tenant, null);
    }

    public async Task<(LiveTenant? Live, Standing? Standing, Problem? Refusal)> ReadAsync(HttpContext http, Guid tenantId, bool writing,
        TenantManifest? wanting, CancellationToken cancellation)
    {
        var path = $"/api/tenants/{tenantId}";
        var tenantReply = await api.SendAsync(http, "GET", path, null, cancellation);
        if (!tenantReply.Ok) return (null, null, Of(tenantReply));
        var tenant = tenantReply.Body.Deserialize<Tenant>(Json.Options)!;

        var (refusal, read) = await OrgHttp.ReadCore(http, streams, organisations, tenantId, (standing, graph) => (standing, graph.Fork()),
            cancellation, writing);
        if (refusal is not null) return (null, null, await ProblemOf(refusal, http));
        var (standing, graph) = read;
        var names = await organisations.NamesAsync(tenantId, graph.Root is null ? [] : graph.SelfAndDescendants(graph.Root.Value).Select(n => n.Id).ToList(),
            cancellation);

        // Each area is read when the manifest names it (or when exporting: every area the caller may read, the others
        // left out and said so), through its route.
        var spec = wanting?.Spec;
        var omitted = new List<string>();
        bool Skip(ApiReply reply, string area)
        {
            if (wanting is not null || reply.Status is not (403 or 404)) return false;
            omitted.Add(area);
            return true;
        }
        bool Wants(object? area, string kind) => wanting is null || area is not null || spec?.Management?.ContainsKey(kind) == true;
        var accounts = new List<ServiceAccountView>();
        if (Wants(spec?.ServiceAccounts, "serviceAccounts"))
        {
            var reply = await api.SendAsync(http, "GET", path + "/service-accounts", null, cancellation);
            if (!reply.Ok && !Skip(reply, "serviceAccounts")) return (null, null, Of(reply));
            if (reply.Ok) accounts = reply.Body.GetProperty("items").Deserialize<List<ServiceAccountView>>(Json.Options)!;
        }
        var webhooks = new List<WebhookView>();
        if (Wants(spec?.Webhooks, "webhooks"))
        {
            var reply = await api.SendAsync(http, "GET", path + "/webhooks", null, cancellation);
            if (!reply.Ok && !Skip(reply, "webhooks")) return (null, null, Of(reply));
            if (reply.Ok) webhooks = reply.Body.Deserialize<List<WebhookView>>(Json.Options)!;
        }
        IdentityProviderView? idp = null;
        if (Wants(spec?.IdentityProvider, "identityProvider"))
        {
            var reply = await api.SendAsync(http, "GET", path + "/identity-provider", null, cancellation);
            if (reply.Ok) idp = reply.Body.Deserialize<IdentityProviderView>(Json.Options);
            else if (reply.Status == 403 && Skip(reply, "identityProvider")) { }
            else if (reply.Status != 404) return (null, null, Of(reply)); // 404: no provider (the tenant itself was read above)
        }
        var domains = new List<string>();
        long domainsVersion = 0;
        if (Wants(spec?.Domains, "domains"))
        {
            var reply = await api.SendAsync(http, "GET", path + "/domains", null, cancellation);
            if (!reply.Ok && !Skip(reply, "domains")) return (null, null, Of(reply));
            if (reply.Ok)
            {
                domains = reply.Body.GetProperty("domains").EnumerateArray().Select(d => d.GetProperty("domain").GetString()!).ToList();
                domainsVersion = reply.Body.GetProperty("version").GetInt64();
            }
        }
        var record = await LoadRecordAsync(tenantId, cancellation);
        return (new LiveTenant(tenantId, tenant, graph, names, accounts, webhooks, idp, domains, domainsVersion, record, omitted), standing, null);
    }

    public async Task<TenantManifestRecord?> LoadRecordAsync(Guid tenantId, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        return await session.LoadAsync<TenantManifestRecord>(tenantId, cancellation);
    }

    /// <summary>The plan of a manifest, as the caller: of a new tenant (its request), or against the live one.</summary>
    /// <param name="comparing">A drift check: the plan is never applied, so what only a platform administrator may change (settings) is
    /// compared, not refused.</param>
    public async Task<PlanOutcome> PlanAsync(HttpContext http, TenantManifest manifest, bool allowDelete, CancellationToken cancellation,
        bool comparing = false)
    {
        var caller = http.Caller();
        var (tenantId, hidden) = await FindAsync(http, manifest.Metadata!.Name!, cancellation);
        if (hidden is not null) return new(null, null, null, Problem.NotFound("tenant"));
        if (tenantId is null)
        {
            // Only a platform administrator may ask for a tenant; to anyone else a slug that is free is a tenant they cannot see.
            if (!caller.Has(Roles.PlatformAdmin)) return new(null, null, null, Problem.NotFound("tenant"));
            var plan = ManifestDecisions.PlanNew(manifest, "");
            return new(null, plan with { Before = [plan.Before[0] with { IdempotencyKey = "manifest:" + manifest.Metadata.Name + ":" + plan.Digest[7..39] }] },
                null, null);
        }
        var (live, standing, refusal) = await ReadAsync(http, tenantId.Value, writing: true, manifest, cancellation);
        if (refusal is not null) return new(tenantId, null, null, refusal);
        var planned = ManifestDecisions.Plan(manifest, live!, standing!, comparing || caller.Has(Roles.PlatformAdmin), allowDelete, options, streams.Now, Claim);
        return new(tenantId, planned.Refusal is null ? planned : null, live, planned.Refusal);
    }

    /// <summary>What apply did: each change made, the secrets made (shown this once), and what is waiting for someone else.</summary>
    public sealed record Applied(Guid? TenantId, List<object> Done, List<object> Secrets, List<object> Pending, Problem? Failed, long? AccessVersion,
        bool AwaitingApproval = false);

    /// <summary>
    /// Applies the plan whose digest the caller saw, one apply per tenant at a time (an advisory lock held for the whole
    /// apply): planned again under the lock, and refused whole (412, nothing written) unless the plan is the same. Then the
    /// tree (one transaction, refused whole if the tree moved since), the tenant's own changes (each at the version the
    /// plan expects), and the rest through their routes. A route that refuses stops the apply there: what was done is said,
    /// and a plan again shows what is left. Once anything is written, the rest runs to its end whatever the caller does, and
    /// what was done is recorded.
    /// </summary>
    /// <param name="record">Record the manifest as the tenant's (an import is applied, not recorded).</param>
    public async Task<(Applied? Applied, Problem? Refusal)> ApplyAsync(HttpContext http, MessageContext context, TenantManifest manifest,
        string digest, bool allowDelete, CancellationToken cancellation, bool record = true)
    {
        var (found, hidden) = await FindAsync(http, manifest.Metadata!.Name!, cancellation);
        if (hidden is not null) return (null, Problem.NotFound("tenant"));
        await using var guard = found is { } locked ? await streams.BeginAsync(null, locked, cancellation) : null;
        if (guard is not null) await guard.LockAsync("manifest", cancellation);

        var outcome = await PlanAsync(http, manifest, allowDelete, cancellation);
        if (outcome.Refusal is not null) return (null, outcome.Refusal);
        var plan = outcome.Plan!;
        if (plan.Digest != digest)
            return (null, new Problem("plan-stale", 412, "The tenant changed since the plan",
                "Something the plan read has changed, or the manifest is not the one planned: nothing was applied. Plan again.")
                .With("planned", digest).With("now", plan.Digest));
        var done = new List<object>();
        var secrets = new List<object>();
        var pending = new List<object>();
        var made = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var removed = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Note(Dictionary<string, List<string>> into, string kind, string id) => (into.TryGetValue(kind, out var l) ? l : into[kind] = []).Add(id);
        Problem? failed = null;

        if (outcome.TenantId is null)
        {
            // A new tenant: its request, which another person approves (four eyes). The rest is applied after, by a plan then.
            var request = plan.Before[0];
            var reply = await api.SendAsync(http, request.Method, request.Path, request.Body, cancellation,
                new Dictionary<string, string> { ["Idempotency-Key"] = request.IdempotencyKey! });
            if (!reply.Ok) return (new Applied(null, done, secrets, pending, Of(reply).With("change", plan.Changes[0]), null), null);
            var requested = reply.Body.GetProperty("id").GetGuid();
            return (new Applied(requested, [plan.Changes[0]], secrets,
                [new { kind = ManifestDecisions.Kinds.Tenant, target = manifest.Metadata!.Name, tenantId = requested, waitingFor = "approval" }], null, null,
                AwaitingApproval: true), null);
        }

        var tenantId = outcome.TenantId.Value;
        var standing = Standing.Of(http.Caller(), tenantId)!;
        long? accessVersion = null;
        var wrote = false;
        // From the first write on, the apply finishes and records what it did even if the caller goes away.
        var after = CancellationToken.None;
        // Metered as the batch routes the tree's changes would otherwise take: the apply itself is one API call (its route's),
        // and every further thousand changes one more, charged before anything is written (a tenant out of calls writes
        // nothing). Only callers the API meters (a tenant's own) are charged, as by the middleware.
        if (options.QuotaMetering && http.User.FindFirst(Claims.TenantId) is not null)
            for (var extra = (plan.OrgEvents.Count - 1) / OrganisationDecisions.MaxBatch; extra > 0; extra--)
                if (await ledger.ChargeApiCallAsync(tenantId, null, cancellation) is { } exhausted)
                    return (null, exhausted.ToProblem(429));
        try
        {
            if (plan.OrgEvents.Count > 0)
            {
                var planned = long.Parse(plan.Versions["access"], System.Globalization.CultureInfo.InvariantCulture);
                var result = await organisations.Execute(context, tenantId, graph =>
                {
                    if (graph.Version != planned) return OrgDecision.Refuse(Problem.StaleVersion(planned, graph.Version));
                    // The same decisions as the plan, on the tree as it is now (the same version, so the same tree).
                    var again = ManifestDecisions.Plan(manifest, outcome.Live! with { Graph = graph }, standing, http.Caller().Has(Roles.PlatformAdmin),
                        allowDelete, options, streams.Now, Claim);
                    return again.Refusal is { } no ? OrgDecision.Refuse(no) : new OrgDecision(again.OrgEvents, null);
                }, cancellation);
                if (result is OrgRefused refused)
                    return (new Applied(tenantId, done, secrets, pending, refused.Problem.Code == "stale-version"
                        ? new Problem("plan-stale", 412, "The organisation tree changed since the plan", "Nothing was applied. Plan again.")
                        : refused.Problem, null), null);
                wrote = true;
                accessVersion = ((OrgApplied)result).AccessVersion;
                // Quota shares changed: enforcement reads them afresh (as the allocation route has it do).
                if (plan.Changes.Any(c => c.Kind == ManifestDecisions.Kinds.Allocation)) quotas.Invalidate(tenantId);
                var tree = new HashSet<string>([ManifestDecisions.Kinds.Organisation, ManifestDecisions.Kinds.Role, ManifestDecisions.Kinds.Grant,
                    ManifestDecisions.Kinds.Member, ManifestDecisions.Kinds.Policy, ManifestDecisions.Kinds.Allocation], StringComparer.Ordinal);
                done.AddRange(plan.Changes.Where(c => c.Withheld is null && tree.Contains(c.Kind)));
                foreach (var (kind, ids) in plan.Made.Where(p => tree.Contains(p.Key))) foreach (var id in ids) Note(made, kind, id);
                foreach (var (kind, ids) in plan.Removed.Where(p => tree.Contains(p.Key))) foreach (var id in ids) Note(removed, kind, id);
            }
            foreach (var step in plan.Before.Concat(plan.After))
            {
                var headers = new Dictionary<string, string>();
                if (step.IfMatch is { } tag) headers["If-Match"] = tag;
                var reply = await api.SendAsync(http, step.Method, step.Path, step.Body, wrote ? after : cancellation, headers);
                var change = plan.Changes[step.Change];
                if (!reply.Ok)
                {
                    failed = Of(reply).With("change", change);
                    break;
                }
                wrote = true;
                done.Add(change);
                if (step.Removes is { } gone) Note(removed, gone.Kind, gone.Id);
                if (step.Made is not { } kind || reply.Body.ValueKind != JsonValueKind.Object) continue;
                switch (kind)
                {
                    case ManifestDecisions.Kinds.ServiceAccount:
                        Note(made, kind, reply.Body.GetProperty("account").GetProperty("id").GetString()!);
                        secrets.Add(new
                        {
                            kind, name = change.Target, clientId = reply.Body.GetProperty("clientId").GetString(),
                            clientSecret = reply.Body.GetProperty("clientSecret").GetString(),
                        });
                        break;
                    case ManifestDecisions.Kinds.Webhook:
                        Note(made, kind, reply.Body.GetProperty("id").GetString()!);
                        secrets.Add(new { kind, url = change.Target, secret = reply.Body.TryGetProperty("secret", out var s) ? s.GetString() : null });
                        break;
                    case ManifestDecisions.Kinds.Domain:
                        Note(made, kind, reply.Body.GetProperty("domain").GetString()!);
                        if (reply.Body.GetProperty("state").GetString() == "pending")
                            pending.Add(new { kind, target = change.Target, waitingFor = "proof", verification = reply.Body.GetProperty("verification") });
                        break;
                }
            }
        }
        finally
        {
            // The tenant's manifest is its administrators': another member's apply makes its changes but does not replace it.
            // Recorded when something was written, or when an administrator applies (in sync) a manifest other than the one on
            // record: never for a refusal that wrote nothing.
            var current = outcome.Live!.Record;
            var another = current?.ManifestHash != ManifestDecisions.ManifestHash(manifest);
            if (record && standing.Everything && (wrote || (another && failed is null && plan.Count == 0)))
                await RecordAsync(context, tenantId, manifest, plan, made, removed, http.Caller().Actor, CancellationToken.None);
        }
        return (new Applied(tenantId, done, secrets, pending, failed, accessVersion), null);
    }

    /// <summary>The domain route's own rules for a claim.</summary>
    private (string? Name, FieldError? Error) Claim(TenantEvents.Domains.ClaimDomain claim)
    {
        var (name, _, error) = TenantEvents.Domains.DomainClaimRules.Check(claim, domainIndex, options);
        return (name, error);
    }

    /// <summary>What the manifest made (and removed), and the manifest itself, sealed, for the drift check.</summary>
    private async Task RecordAsync(MessageContext context, Guid tenantId, TenantManifest manifest, PlannedManifest plan,
        Dictionary<string, List<string>> made, Dictionary<string, List<string>> removed, Actor by, CancellationToken cancellation)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var record = await LoadRecordAsync(tenantId, cancellation);
            var applied = new ManifestApplied(manifest.Metadata!.Name!, plan.Digest, ManifestDecisions.ManifestHash(manifest), plan.Count,
                made.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.Ordinal),
                removed.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.Ordinal), by, streams.Now);
            await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
            var at = record?.Version ?? 0;
            var stream = ManifestEventTypes.Stream(tenantId);
            await tx.AppendAsync(stream, [applied], cancellation, versionAfter: at + 1, start: at == 0);
            var next = TenantManifestRecord.Fold(tenantId, record, [applied]);
            next.Desired = await streams.SealBytesAsync(tenantId, JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestReader.SerializerOptions), stream,
                TenantManifestRecord.SealedType, cancellation);
            tx.Session.Store(next);
            // A delay, not a time: the schedule runs on the message store's clock.
            await context.ScheduleAsync(new CheckManifestDrift(tenantId, plan.Digest), options.ManifestDriftInterval,
                new DeliveryOptions { TenantId = tenantId.ToString() });
            if (await tx.TryCommitAsync(cancellation)) return;
        }
        logger.LogWarning("The manifest applied to tenant {TenantId} could not be recorded after three attempts", tenantId);
    }

    /// <summary>The manifest last applied to the tenant (opened with its key), or null.</summary>
    public async Task<TenantManifest?> DesiredAsync(TenantManifestRecord record, CancellationToken cancellation) =>
        record.Desired is null ? null
        : JsonSerializer.Deserialize<TenantManifest>(await streams.OpenBytesAsync(record.Id, record.Desired, ManifestEventTypes.Stream(record.Id),
            TenantManifestRecord.SealedType, cancellation), ManifestReader.SerializerOptions);

    private static Problem Of(ApiReply reply) => Problem.FromJson(reply.Status, reply.Body);

    private static async Task<Problem> ProblemOf(IResult result, HttpContext http)
    {
        var context = new DefaultHttpContext { RequestServices = http.RequestServices };
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        await result.ExecuteAsync(context);
        buffer.Position = 0;
        return Problem.FromJson(context.Response.StatusCode, buffer.Length > 0 ? JsonDocument.Parse(buffer).RootElement.Clone() : default);
    }
}
