using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

/// <param name="CaseFiles">For an erasure: redact (default) or retain the case files naming the person.</param>
/// <param name="RetentionBasis">For an erasure that retains case files: why (GDPR Art. 17(3)).</param>
/// <param name="Note">What was done (required for rectification and restriction, which are done through the tenant's own routes).</param>
public sealed record FulfilDataSubjectRequest(string? CaseFiles, string? RetentionBasis, string? Note);

public static class FulfilRequestEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/data-subject-requests/{requestId}";

    /// <summary>
    /// Fulfils a verified request (compliance.manage). Access and portability: the package of everything the tenant holds
    /// about the person, returned and its digest recorded. Erasure: the person erased through each capability (Erasure.cs),
    /// the recipients told, and the request's own copy of who they were forgotten. Rectification and restriction: the note
    /// of what was done. Answers the request (and, for access and portability, the package).
    /// </summary>
    [WolverinePost(Path + "/fulfil", OperationId = "FulfilDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Post(Guid tenantId, Guid requestId, FulfilDataSubjectRequest? command, HttpContext http, ComplianceStore store,
        PersonalData finder, Erasure erasure, TenantEvents.Organisations.OrganisationStore organisations, Wolverine.Runtime.MessageContext context,
        CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        command ??= new FulfilDataSubjectRequest(null, null, null);
        var (tenant, _) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        DataSubjectRequest? request;
        await using (var look = await store.Streams.BeginAsync(null, tenantId, cancellation))
            request = await store.LoadRequestAsync(look, requestId, cancellation);
        if (request is null) return Problem.NotFound("data-subject request").ToResult();
        if (expected is { } v && v != request.Version) return Problem.StaleVersion(v, request.Version).ToResult();
        if (RequestDecisions.CanFulfil(request, http.Caller().Actor) is { } cannot) return cannot.ToResult();
        // An erasure removes the person's access and directory record and redacts case files: powers the tenant's
        // administrators hold (and the platform's), not everyone who handles requests.
        if (request.Kind == "erasure" && !http.Caller().Has(Infrastructure.Security.Roles.PlatformAdmin) && !http.Caller().AdministersTenant(tenantId))
            return Problem.Forbidden("An erasure removes a person's access, directory record and case-file mentions: the tenant's administrators carry it out.").ToResult();
        var errors = new List<FieldError>();
        var caseFiles = command.CaseFiles ?? "redact";
        if (request.Kind == "erasure")
        {
            if (caseFiles is not ("redact" or "retain")) errors.Add(new FieldError("caseFiles", "unknown-choice", "redact or retain."));
            if (caseFiles == "retain") TenantRules.Reason("retentionBasis", command.RetentionBasis, errors);
        }
        if (request.Kind is "rectification" or "restriction") TenantRules.Reason("note", command.Note, errors);
        else TenantRules.OptionalText("note", command.Note, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        var actor = http.Caller().Actor;
        // An erasure acts on every file naming the person; a package shows passages only of files the handler may read.
        var reach = request.Kind == "erasure" ? null : await ComplianceHttp.CaseReachAsync(http, organisations, tenantId, cancellation);
        var found = request.Kind is "rectification" or "restriction" ? null : await finder.FindAsync(tenant, request.Subject, cancellation, reach);
        object? package = null;
        var events = new List<object>();
        IReadOnlyList<Guid> earlier = [];
        switch (request.Kind)
        {
            case "access" or "portability":
                package = AccessPackage.Build(tenant, request, found!, store.Now);
                var digest = AccessPackage.Digest(AccessPackage.Json(package));
                events.Add(new DataSubjectRequestFulfilled(request.Id, found!.Counts, [], [], digest, command.Note?.Trim(), actor, store.Now));
                events.Add(new DataSubjectPackageDisclosed(request.Id, "json", digest, actor, store.Now));
                break;
            case "erasure":
                var outcome = await erasure.RunAsync(tenant, request, found!, new ErasureChoice(caseFiles, command.RetentionBasis?.Trim()), actor, cancellation);
                events.Add(new DataSubjectRequestFulfilled(request.Id, found!.Counts, outcome.Erased, outcome.Retained, null, command.Note?.Trim(), actor, store.Now));
                events.Add(new DataSubjectErasureNotified(request.Id, outcome.Recipients, actor, store.Now, ErasedRecords(found!, outcome)));
                earlier = outcome.EarlierRequests;
                break;
            default:
                events.Add(new DataSubjectRequestFulfilled(request.Id, new Dictionary<string, int>(), [], [], null, command.Note!.Trim(), actor, store.Now));
                break;
        }
        await using var tx = await store.Streams.BeginAsync(context, tenantId, cancellation);
        var current = await store.LoadRequestAsync(tx, requestId, cancellation, forUpdate: true);
        if (current is null || current.Version != request.Version) return Problem.ConcurrentWrite().ToResult();
        var after = await store.SaveRequestAsync(tx, current, events, cancellation);
        // The request keeps what was done and when; who it was about goes with the rest of their data: its key is
        // destroyed through the outbox once this commit is certain.
        if (request.Kind == "erasure")
            foreach (var named in earlier.Prepend(requestId))
                await context.PublishAsync(new EraseSubjectKey(tenantId, named), new Wolverine.DeliveryOptions { TenantId = tenantId.ToString() });
        if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        if (request.Kind == "erasure") after.Subject = new DataSubject("[erased]", null, Erased: true);
        http.Response.Headers.ETag = TenantHttp.ETag(after.Version);
        return Results.Json(new { request = ComplianceHttp.View(after), package }, Json.Options);
    }

    /// <summary>What the recipients can act on: the ids of what went (redacted files only when they were redacted).</summary>
    private static IReadOnlyList<ErasedRecord> ErasedRecords(PersonRecords found, ErasureOutcome outcome) =>
    [
        .. found.Directory.Select(d => new ErasedRecord("directory-user", d.Id.ToString())),
        .. found.Contacts.Select(c => new ErasedRecord("contact", c.SubjectId.ToString())),
        .. found.Memberships.Select(m => new ErasedRecord("membership", m.UserId, m.OrganisationId)),
        .. found.Grants.Select(g => new ErasedRecord("grant", g.GrantId.ToString(), g.OrganisationId)),
        .. (outcome.Erased.Contains("caseFiles") ? found.CaseFiles.Select(f => new ErasedRecord("case-file", f.Id.ToString(), f.OrganisationId)) : []),
    ];

    /// <summary>
    /// The access package of a verified access or portability request as it is now: format=json (default,
    /// machine-readable), html or pdf (for reading). It holds the person's data from every capability (their directory
    /// record, the passages of case files naming them), so it is read by who handles requests (compliance.manage), not
    /// by every reader of the compliance records.
    /// </summary>
    [WolverineGet(Path + "/package", OperationId = "GetAccessPackage")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Package(Guid tenantId, Guid requestId, HttpContext http, ComplianceStore store, PersonalData finder,
        TenantEvents.Organisations.OrganisationStore organisations, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        var format = http.Request.Query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "html" or "pdf")) return Problem.Validation("format", "unknown-format", "json, html or pdf.").ToResult();
        var (tenant, _) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        DataSubjectRequest? request;
        await using (var tx = await store.Streams.BeginAsync(null, tenantId, cancellation))
            request = await store.LoadRequestAsync(tx, requestId, cancellation);
        if (request is null) return Problem.NotFound("data-subject request").ToResult();
        if (request.Kind is not ("access" or "portability"))
            return new Problem("no-package", 409, "No package", $"A {request.Kind} request has no access package.").ToResult();
        if (request.State is not (RequestStates.Verified or RequestStates.Fulfilled) || request.Subject.Erased)
            return new Problem("no-package", 409, "No package",
                "The package is prepared once the person's identity is verified, and until the request is closed.").ToResult();
        var found = await finder.FindAsync(tenant, request.Subject, cancellation, await ComplianceHttp.CaseReachAsync(http, organisations, tenantId, cancellation));
        var now = store.Now;
        var (body, type) = format switch
        {
            "html" => (System.Text.Encoding.UTF8.GetBytes(AccessPackage.Html(tenant, request, found, now)), "text/html; charset=utf-8"),
            "pdf" => (AccessPackage.Pdf(tenant, request, found, now), "application/pdf"),
            _ => (AccessPackage.Json(AccessPackage.Build(tenant, request, found, now)), "application/json"),
        };
        // Who read the person's data, when, and which copy: recorded on the request before it is answered.
        await using (var tx = await store.Streams.BeginAsync(null, tenantId, cancellation))
        {
            var current = await store.LoadRequestAsync(tx, requestId, cancellation, forUpdate: true);
            if (current is null) return Problem.NotFound("data-subject request").ToResult();
            await store.SaveRequestAsync(tx, current,
                [new DataSubjectPackageDisclosed(requestId, format, "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)),
                    http.Caller().Actor, now)], cancellation);
            if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        }
        return format == "pdf" ? Results.File(body, type, $"access-package-{request.Id}.pdf") : Results.Bytes(body, type);
    }
}
