using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

/// <summary>The service in the benchmark's own process (same code, static handlers), on a fresh schema.</summary>
static class InProcessService
{
    /// <summary>Drops the schema (and any of the benchmark's own tables) and migrates it again.</summary>
    public static async Task ResetAsync(string owner, params string[] benchTables)
    {
        await using (var reset = new NpgsqlConnection(owner))
        {
            await reset.OpenAsync();
            var drops = string.Concat(benchTables.Select(t => $" drop table if exists public.{t};"));
            await using var command = new NpgsqlCommand("drop schema if exists tenantevents cascade;" + drops, reset);
            await command.ExecuteNonQueryAsync();
        }
        await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
    }

    /// <summary>Starts the service on <paramref name="url"/> with the shared data folder and the given extra settings.</summary>
    public static async Task<WebApplication> StartAsync(string url, string connectionString, string platform, IReadOnlyDictionary<string, string>? settings = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development", ContentRootPath = Path.GetFullPath("src/TenantEvents") });
        builder.WebHost.UseUrls(url);
        builder.Configuration["ConnectionStrings:TenantEvents"] = connectionString;
        builder.Configuration["ConnectionStrings:TenantEventsPlatform"] = platform;
        builder.Configuration["TenantEvents:DataFolder"] = Service.SharedDataFolder;
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) builder.Configuration[key] = value;
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        TenantEvents.Infrastructure.Hosting.AddTenantEvents(builder);
        var app = builder.Build();
        TenantEvents.Infrastructure.Hosting.UseTenantEvents(app);
        await app.StartAsync();
        return app;
    }
}
