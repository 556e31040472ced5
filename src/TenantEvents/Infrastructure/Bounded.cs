namespace TenantEvents.Infrastructure;

/// <summary>
/// A read that may take at most so long: what operators' figures and probes need, where a database that stalls must cost
/// its own answer, not the whole report or probe.
/// </summary>
public static class Bounded
{
    /// <summary>
    /// The value read within <paramref name="within"/>, or the failure (an <see cref="OperationCanceledException"/> when it
    /// took too long). Only the caller's own cancellation goes on as an exception.
    /// </summary>
    public static async Task<(T? Value, Exception? Failure)> ReadAsync<T>(Func<CancellationToken, Task<T>> read, TimeSpan within,
        CancellationToken cancellation) where T : class
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(within);
        try
        {
            return (await read(timeout.Token), null);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            return (null, e);
        }
    }

    /// <summary>Whether a failure is the database's (unreachable, too slow), as against a bug: only those are reported as such.</summary>
    public static bool IsUnreachable(Exception failure) => failure is Npgsql.NpgsqlException or TimeoutException or OperationCanceledException;

    /// <summary>Whether the database answers a trivial query within <paramref name="within"/>.</summary>
    public static async Task<Exception?> AnswersAsync(Npgsql.NpgsqlDataSource database, TimeSpan within, CancellationToken cancellation)
    {
        var (_, failure) = await ReadAsync(async token =>
        {
            await using var command = database.CreateCommand("select 1");
            await command.ExecuteScalarAsync(token);
            return "answered";
        }, within, cancellation);
        return failure;
    }
}
