using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Infrastructure.Webhooks;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

public static class ProvisioningWebhookEndpoint
{
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>
    /// Tenant requests from an external workflow system, signed per Standard Webhooks with the shared secret
    /// (TenantEvents:ProvisioningWebhookSecret). A missing or bad signature, or a timestamp outside the tolerance, is
    /// a 401 and stores nothing; a delivery id seen before is a replay and is refused with 409. An accepted request
    /// enters the same flow as POST /api/tenants and still needs a platform approver.
    /// </summary>
    [WolverinePost("/api/provisioning/tenant-requests", OperationId = "ReceiveProvisioningWebhook")]
    [AllowAnonymous]
    public static async Task<IResult> Post(HttpContext http, TenantStreams streams, TemplateCatalog templates,
        TenantEventsOptions options, MessageContext context, CancellationToken cancellation)
    {
        if (string.IsNullOrEmpty(options.ProvisioningWebhookSecret))
            return new Problem("webhook-not-configured", 404, "Not found", "Provisioning webhooks are not configured on this platform.").ToResult();

        var body = await ReadBody(http.Request, cancellation);
        if (body is null)
            return new Problem("body-too-large", 413, "The body is too large", $"At most {MaxBodyBytes} bytes are accepted.").ToResult();

        var headers = http.Request.Headers;
        var refusal = new StandardWebhooks(options.ProvisioningWebhookSecret).Verify(headers[StandardWebhooks.IdHeader],
            headers[StandardWebhooks.TimestampHeader], headers[StandardWebhooks.SignatureHeader], body, streams.Now, options.WebhookTolerance);
        if (refusal is not null)
            return new Problem("webhook-signature-invalid", 401, "The webhook delivery is not authentic", $"Refused: {refusal}.").ToResult();

        RequestTenant? request;
        try
        {
            request = JsonSerializer.Deserialize<RequestTenant>(body, Json.Options);
        }
        catch (JsonException e)
        {
            return Problem.Malformed(e.Message).ToResult();
        }

        return await RequestTenantEndpoint.Handle(request, Actor.Webhook("provisioning"), headers[StandardWebhooks.IdHeader].ToString(), http,
            streams, templates, context, cancellation, refuseReplay: true);
    }

    private static async Task<byte[]?> ReadBody(HttpRequest request, CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
