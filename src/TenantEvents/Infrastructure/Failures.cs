using JasperFx;

namespace TenantEvents.Infrastructure;

/// <summary>Marten reports a batch's failures one by one or bundled in an AggregateException; look through both.</summary>
public static class Failures
{
    public static bool AreAll<T>(Exception e) where T : Exception => e switch
    {
        T => true,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(AreAll<T>),
        _ => false,
    };

    public static bool IsConcurrency(Exception e) => AreAll<ConcurrencyException>(e);
}
