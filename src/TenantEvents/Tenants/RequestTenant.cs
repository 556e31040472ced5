using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JasperFx;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

public sealed record QuotaOverrides(int? Licences, long? AiComputeUnitsPerMonth, long? ApiCallsPerDay, long? ApiCallsPerMonth,
    QuotaMode? Mode, List<int>? AlertThresholds, Dictionary<string, QuotaMode>? Modes = null)
{
    /// <summary>Per-kind modes are merged over the current ones (a kind left out keeps its mode).</summary>
    public QuotaDefaults Over(QuotaDefaults d) => new(Licences ?? d.Licences, AiComputeUnitsPerMonth ?? d.AiComputeUnitsPerMonth,
        ApiCallsPerDay ?? d.ApiCallsPerDay, ApiCallsPerMonth ?? d.ApiCallsPerMonth, Mode ?? d.Mode, AlertThresholds ?? d.AlertThresholds,
        Modes is null ? d.Modes : new Dictionary<string, QuotaMode>((d.Modes ?? new Dictionary<string, QuotaMode>()).Concat(Modes)
            .GroupBy(p => p.Key).Select(g => g.Last()), StringComparer.Ordinal));
}

/// <summary>Fields a request (or a later settings update) may set over the template's defaults; absent means "keep".</summary>
public sealed record SettingsOverrides(int? AuditRetentionDays, List<string>? Features, QuotaOverrides? Quotas, bool? DedicatedDatabase)
{
    public TenantSettings Over(TenantSettings d) => new(AuditRetentionDays ?? d.AuditRetentionDays, Features ?? d.Features,
        Quotas?.Over(d.Quotas) ?? d.Quotas, DedicatedDatabase ?? d.DedicatedDatabase);
}

public sealed record RequestTenant(
    string? Name,
    string? Slug,
    string? Template,
    ResidencyZone? Residency,
    List<Contact>? Contacts,
    Contact? RequestedFor,
    string? RootOrganisationName,
    SettingsOverrides? Overrides);

public static class RequestTenantEndpoint
{
    public const int MaxIdempotencyKeyLength = 200;

    /// <summary>Pure: the request against the catalogue. Returns the event to start the stream with, or field errors.</summary>
    public static (TenantRequested? Event, IReadOnlyList<FieldError> Errors) Decide(RequestTenant request, TemplateCatalog templates,
        Guid tenantId, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        TenantRules.Name("name", request.Name, errors);
        TenantRules.Slug(request.Slug, errors);
        var template = templates.Find(request.Template);
        if (template is null)
            errors.Add(new FieldError("template", string.IsNullOrEmpty(request.Template) ? "required" : "unknown-template",
                $"must name a template: {string.Join(", ", templates.All.Select(t => t.Name))}."));
        TenantRules.Residency(request.Residency, template?.Residency, errors);
        TenantRules.Contacts(request.Contacts, errors);
        if (request.RequestedFor is not null) TenantRules.Contact("requestedFor", request.RequestedFor, errors);
        TenantRules.OptionalText("rootOrganisationName", request.RootOrganisationName, errors, TenantRules.MaxNameLength);
        TenantSettings? settings = null;
        if (template is not null)
        {
            if (request.Overrides?.Features?.Any(f => f is null) == true)
                errors.Add(new FieldError("overrides.features", "required", "may not contain null."));
            else
            {
                settings = (request.Overrides ?? new SettingsOverrides(null, null, null, null)).Over(template.DefaultSettings);
                TenantRules.Settings("overrides.", settings, errors);
                TenantEvents.Compliance.JurisdictionChecks.Settings("overrides.", request.Residency, template.Name, settings, errors);
            }
        }
        if (errors.Count > 0) return (null, errors);

        // Every person gets a subject id of the service's own: their personal data is sealed under a key of its own.
        static Contact Subject(Contact c) => c with { Name = c.Name.Trim(), SubjectId = Guid.CreateVersion7(), Erased = false };
        return (new TenantRequested(tenantId, request.Name!.Trim(), request.Slug!, template!.Name, template.Version,
            request.Residency!, request.Contacts!.Select(Subject).ToList(), request.RequestedFor is { } f ? Subject(f) : null, settings!,
            request.RootOrganisationName?.Trim(), by, now), []);
    }

    [WolverinePost("/api/tenants", OperationId = "RequestTenant")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(RequestTenant? request, HttpContext http, TenantStreams streams, TemplateCatalog templates,
        MessageContext context, CancellationToken cancellation) =>
        Handle(request, http.Caller().Actor, http.Request.Headers["Idempotency-Key"].ToString(), http, streams, templates, context, cancellation);

    /// <summary>Shared by the REST endpoint and the provisioning webhook.</summary>
    public static async Task<IResult> Handle(RequestTenant? request, Actor actor, string idempotencyKey, HttpContext http,
        TenantStreams streams, TemplateCatalog templates, MessageContext context, CancellationToken cancellation, bool refuseReplay = false)
    {
        if (request is null) return Problem.Malformed("The body must be a JSON object describing the tenant request.").ToResult();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength || idempotencyKey.Any(char.IsControl))
            return Problem.Validation("Idempotency-Key", "invalid-idempotency-key", $"must be at most {MaxIdempotencyKeyLength} printable characters.").ToResult();

        var tenantId = Guid.CreateVersion7();
        var (requested, errors) = Decide(request, templates, tenantId, actor, streams.Now);
        var requestHash = Hash(JsonSerializer.Serialize(request, Json.Options));
        var recordId = idempotencyKey.Length == 0 ? null : Hash($"{actor.Kind}\n{actor.Subject}\n{actor.TenantId}\n{idempotencyKey}");

        if (recordId is not null && await Replay(streams, recordId, requestHash, http, cancellation, refuseReplay) is { } replayed)
            return replayed;
        if (requested is null) return Problem.Validation(errors).ToResult();

        // The directory (main database) reserves the slug and the key and places the tenant in its zone's database, or
        // a dedicated one; that transaction commits only after the tenant's first event is committed where it lives.
        var placement = streams.Zones.Place(requested.Residency, requested.Settings);
        var outcome = await streams.Directory.ReserveAsync(tenantId, requested.Slug, recordId, requestHash, requested.At, placement, cancellation);
        switch (outcome)
        {
            case Infrastructure.Databases.SlugTaken or KeyTaken:
                return await Conflict(streams, recordId, requestHash, requested.Slug, http, cancellation, refuseReplay);
            case NoDatabase none:
                return NoDatabaseFor(none.Placement,
                    (await streams.Directory.DatabasesAsync(cancellation)).Any(d => d.Zone == none.Placement.Zone && !d.Dedicated));
        }
        await using (var reservation = (Reservation)outcome)
        {
            requested = requested with { Storage = new StoragePlacement(placement.Zone, reservation.DatabaseId, placement.Dedicated) };
            await streams.Databases.RememberAsync(tenantId, reservation.DatabaseId, cancellation);
            await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
            await streams.StartAsync(tx.Session, requested, cancellation);
            await tx.CommitAsync(cancellation);
            await reservation.CommitAsync(cancellation);
        }

        var tenant = Tenant.Create(requested);
        tenant.Version = 1;
        http.Response.Headers.ETag = TenantHttp.ETag(tenant.Version);
        return Results.Created($"/api/tenants/{tenantId}", tenant);
    }

    private static async Task<IResult?> Replay(TenantStreams streams, string recordId, string requestHash,
        HttpContext http, CancellationToken cancellation, bool refuseReplay)
    {
        if (await streams.Directory.IdempotencyRecordAsync(recordId, cancellation) is not { } record) return null;
        if (refuseReplay)
            return new Problem("webhook-replayed", 409, "This delivery was received before",
                "A webhook delivery id is accepted once; the first delivery's tenant request stands.").With("tenantId", record.Tenant).ToResult();
        if (record.RequestHash != requestHash)
            return new Problem("idempotency-key-reused", 422, "This Idempotency-Key was used for a different request",
                "Use a new key for a new request; a key replays only the request it was first used with.").ToResult();
        // The first request's tenant, read in its own tenant session (row-level security binds each session to one).
        await using var first = streams.Store.QuerySession(record.Tenant.ToString());
        var stored = await first.LoadAsync<TenantRecord>(record.Tenant, cancellation);
        if (stored is null) return Problem.NotFound("tenant").ToResult();
        if (stored.Shredded) return TenantHttp.Gone(stored);
        var tenant = await streams.ReadAsync(stored, cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(tenant.Version);
        http.Response.Headers["Idempotent-Replayed"] = "true";
        return Results.Created($"/api/tenants/{tenant.Id}", tenant);
    }

    /// <summary>
    /// The slug or the key is taken, possibly by a concurrent retry of this very request that committed a moment ago:
    /// answer with that request's result if it was one, else with slug-taken.
    /// </summary>
    private static async Task<IResult> Conflict(TenantStreams streams, string? recordId, string requestHash, string slug, HttpContext http,
        CancellationToken cancellation, bool refuseReplay)
    {
        if (recordId is not null && await Replay(streams, recordId, requestHash, http, cancellation, refuseReplay) is { } winner)
            return winner;
        return SlugTaken(slug);
    }

    /// <param name="registered">Whether the zone has a shared database at all (then they are all full).</param>
    private static IResult NoDatabaseFor(Placement placement, bool registered)
    {
        var problem = placement.Dedicated
            ? new Problem("no-dedicated-database", 503, "No dedicated database is free in the tenant's zone",
                $"The tenant needs a database of its own in zone '{placement.Zone}' and none is free. An operator adds them with " +
                $"`TenantEvents migrate` (TenantEvents:Zones:{placement.Zone}:DedicatedPool). Nothing was stored.")
            : registered
                ? new Problem("zone-full", 503, "The tenant's zone has no room",
                    $"Every shared database of zone '{placement.Zone}' holds as many tenants as its capacity. An operator adds one " +
                    $"(TenantEvents:Zones:{placement.Zone}:Shared, then `TenantEvents migrate`) or raises a capacity. Nothing was stored.")
                : new Problem("zone-not-migrated", 503, "The tenant's zone has no database yet",
                    $"Zone '{placement.Zone}' is configured but its database is not registered: run `TenantEvents migrate`. Nothing was stored.");
        return problem.With("zone", placement.Zone).ToResult();
    }

    private static IResult SlugTaken(string slug) =>
        new Problem("slug-taken", 409, "That slug is taken", $"Another tenant already uses the slug '{slug}'.")
        { Errors = [new FieldError("slug", "slug-taken", $"'{slug}' is already in use.")] }.ToResult();

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
