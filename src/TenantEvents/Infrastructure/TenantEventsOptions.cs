namespace TenantEvents.Infrastructure;

/// <summary>The service's own settings (section "TenantEvents"; environment variables TenantEvents__Name).</summary>
public sealed class TenantEventsOptions
{
    public const string Section = "TenantEvents";

    /// <summary>Folder for local state: the development token key and, later, the local key service's root key.</summary>
    public string DataFolder { get; set; } = Path.Combine(Directory.GetCurrentDirectory(), ".data");

    /// <summary>PostgreSQL schema that holds the event store, documents and Wolverine's envelope tables.</summary>
    public string DatabaseSchema { get; set; } = "tenantevents";

    /// <summary>Accept development tokens (only ever honoured in the Development environment).</summary>
    public bool DevTokens { get; set; } = true;

    /// <summary>Shared secret of the provisioning webhook (Standard Webhooks form: "whsec_" + base64).</summary>
    public string? ProvisioningWebhookSecret { get; set; }

    /// <summary>How far a provisioning webhook's timestamp may be from our clock before it is refused as stale.</summary>
    public TimeSpan WebhookTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Largest accepted page size on list endpoints.</summary>
    public int MaxPageSize { get; set; } = 200;

    public static TenantEventsOptions From(IConfiguration configuration)
    {
        var options = new TenantEventsOptions();
        configuration.GetSection(Section).Bind(options);
        options.DataFolder = Path.GetFullPath(options.DataFolder);
        return options;
    }
}
