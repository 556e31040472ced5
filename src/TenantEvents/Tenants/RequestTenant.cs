using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JasperFx;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

public sealed record QuotaOverrides(int? Licences, long? AiComputeUnitsPerMonth, long? ApiCallsPerDay, long? ApiCallsPerMonth,
    QuotaMode? Mode, List<int>? AlertThresholds)
{
    public QuotaDefaults Over(QuotaDefaults d) => new(Licences ?? d.Licences, AiComputeUnitsPerMonth ?? d.AiComputeUnitsPerMonth,
        ApiCallsPerDay ?? d.ApiCallsPerDay, ApiCallsPerMonth ?? d.ApiCallsPerMonth, Mode ?? d.Mode, AlertThresholds ?? d.AlertThresholds);
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

/// <summary>A slug is unique across the platform; a rejected request frees it, a decommissioned tenant keeps it.</summary>
public sealed class TenantSlug
{
    public string Id { get; set; } = "";
    public Guid TenantId { get; set; }
}

/// <summary>The first outcome of a create under an Idempotency-Key, so a retry gets that outcome and never a second tenant.</summary>
public sealed class IdempotencyRecord
{
    public string Id { get; set; } = "";
    public string RequestHash { get; set; } = "";
    public Guid TenantId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

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

        await using var session = streams.OpenSession(context, tenantId);
        await session.BeginTransactionAsync(cancellation);
        if (recordId is not null && await Replay(session, streams, recordId, requestHash, http, cancellation, refuseReplay) is { } replayed)
            return replayed;
        if (requested is null) return Problem.Validation(errors).ToResult();

        if (await session.LoadAsync<TenantSlug>(requested.Slug, cancellation) is not null)
            return await Conflict(streams, context, tenantId, recordId, requestHash, requested.Slug, http, cancellation, refuseReplay);

        session.Insert(new TenantSlug { Id = requested.Slug, TenantId = tenantId });
        if (recordId is not null)
            session.Insert(new IdempotencyRecord { Id = recordId, RequestHash = requestHash, TenantId = tenantId, CreatedAt = requested.At });
        await streams.StartAsync(session, requested, cancellation);
        try
        {
            await session.SaveChangesAsync(cancellation);
        }
        catch (Exception e) when (Failures.IsDuplicate(e))
        {
            return await Conflict(streams, context, tenantId, recordId, requestHash, requested.Slug, http, cancellation, refuseReplay);
        }

        var tenant = Tenant.Create(requested);
        tenant.Version = 1;
        http.Response.Headers.ETag = TenantHttp.ETag(tenant.Version);
        return Results.Created($"/api/tenants/{tenantId}", tenant);
    }

    private static async Task<IResult?> Replay(IDocumentSession session, TenantStreams streams, string recordId, string requestHash,
        HttpContext http, CancellationToken cancellation, bool refuseReplay)
    {
        var record = await session.LoadAsync<IdempotencyRecord>(recordId, cancellation);
        if (record is null) return null;
        if (refuseReplay)
            return new Problem("webhook-replayed", 409, "This delivery was received before",
                "A webhook delivery id is accepted once; the first delivery's tenant request stands.").With("tenantId", record.TenantId).ToResult();
        if (record.RequestHash != requestHash)
            return new Problem("idempotency-key-reused", 422, "This Idempotency-Key was used for a different request",
                "Use a new key for a new request; a key replays only the request it was first used with.").ToResult();
        // The first request's tenant, read in its own tenant session (row-level security binds each session to one).
        await using var first = session.DocumentStore.QuerySession(record.TenantId.ToString());
        var stored = await first.LoadAsync<TenantRecord>(record.TenantId, cancellation);
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
    private static async Task<IResult> Conflict(TenantStreams streams, MessageContext context, Guid tenantId, string? recordId,
        string requestHash, string slug, HttpContext http, CancellationToken cancellation, bool refuseReplay)
    {
        await using var again = streams.OpenSession(context, tenantId);
        if (recordId is not null && await Replay(again, streams, recordId, requestHash, http, cancellation, refuseReplay) is { } winner)
            return winner;
        return SlugTaken(slug);
    }

    private static IResult SlugTaken(string slug) =>
        new Problem("slug-taken", 409, "That slug is taken", $"Another tenant already uses the slug '{slug}'.")
        { Errors = [new FieldError("slug", "slug-taken", $"'{slug}' is already in use.")] }.ToResult();

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
