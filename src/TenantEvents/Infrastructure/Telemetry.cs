using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace TenantEvents.Infrastructure;

/// <summary>The service's own traces and metrics, next to ASP.NET Core's, Wolverine's and Marten's.</summary>
public static class Telemetry
{
    public const string Name = "TenantEvents";
    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    /// <summary>Tenant commands by command name and outcome (applied, refused, not-found, stale, race).</summary>
    public static readonly Counter<long> Commands = Meter.CreateCounter<long>("tenantevents.tenant.commands", "{command}",
        "Tenant lifecycle commands handled, by command and outcome");
}
