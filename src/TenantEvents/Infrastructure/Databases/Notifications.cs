using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>PostgreSQL notifications of one database, listened to for as long as the service runs.</summary>
public static class Notifications
{
    /// <summary>
    /// Listens on <paramref name="channel"/>: each payload goes to <paramref name="received"/>; <paramref name="listening"/>
    /// runs each time the listen is (re)established (true the first time), for what was missed while nobody listened.
    /// A failure is logged and the listen starts again a second later; it ends when the service stops.
    /// </summary>
    public static async Task ListenAsync(TenantDatabases.Database database, string channel, Action<string> received, Action<bool> listening,
        ILogger logger, string what, CancellationToken stoppingToken)
    {
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.Service.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => received(e.Payload);
                await using (var listen = new NpgsqlCommand($"listen {channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                listening(first);
                first = false;
                while (!stoppingToken.IsCancellationRequested) await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Listening for {What} in database {Database} failed; listening again in a second", what, database.Entry.Id);
                try { await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
