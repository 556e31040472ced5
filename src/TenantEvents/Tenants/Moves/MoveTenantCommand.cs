using TenantEvents.Infrastructure;

namespace TenantEvents.Tenants.Moves;

/// <summary>
/// `TenantEvents move-tenant TENANT DATABASE [--grace SECONDS]`: moves a tenant to another database of its zone while the
/// service runs (TenantMove), as the schema owner (ConnectionStrings:TenantEventsOwner), like `migrate`. Exit 0: moved;
/// 1: not moved (the reason on stderr; the tenant stays where it was and its writes resume).
/// </summary>
public static class MoveTenantCommand
{
    public static async Task<int> Run(string[] args)
    {
        var positional = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || args[i - 1] != "--grace")).ToList();
        if (positional.Count < 2 || !Guid.TryParse(positional[0], out var tenant))
        {
            Console.Error.WriteLine("usage: TenantEvents move-tenant TENANT-ID DATABASE-ID [--grace SECONDS]   (databases: GET /api/platform/databases)");
            return 2;
        }
        var graceAt = Array.IndexOf(args, "--grace");
        var grace = TimeSpan.FromSeconds(graceAt >= 0 && graceAt + 1 < args.Length && double.TryParse(args[graceAt + 1],
            System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : 5);
        if (grace < TimeSpan.Zero || grace > TimeSpan.FromHours(1))
        {
            Console.Error.WriteLine("move-tenant: --grace is a number of seconds from 0 to 3600.");
            return 2;
        }
        var builder = Hosting.CreateBuilder(args.Where((a, i) => a.StartsWith("--", StringComparison.Ordinal) && a != "--grace"
                                                                 && (i == 0 || args[i - 1] != "--grace")).ToArray());
        var options = TenantEventsOptions.From(builder.Configuration);
        var owner = builder.Configuration.GetConnectionString(Hosting.OwnerConnectionStringName);
        if (string.IsNullOrWhiteSpace(owner))
        {
            Console.Error.WriteLine($"move-tenant: set ConnectionStrings:{Hosting.OwnerConnectionStringName} (the schema owner), as for migrate.");
            return 1;
        }
        try
        {
            var report = await TenantMove.RunAsync(owner, options.DatabaseSchema, tenant, positional[1], grace, Console.Out);
            Console.WriteLine($"moved {report.Tenant} from {report.From} to {report.To}: {report.Events} events, {report.LogEntries} log entries, " +
                              $"{report.Checkpoints} checkpoints verified; writes refused for {report.WritesRefused.TotalMilliseconds:F0} ms; " +
                              $"{report.Total.TotalSeconds:F1} s in all");
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or Npgsql.NpgsqlException)
        {
            Console.Error.WriteLine("move-tenant: " + e.Message);
            return 1;
        }
    }
}
