using System.Collections.Frozen;
using System.Linq.Expressions;
using System.Reflection;

namespace TenantEvents.Infrastructure;

/// <summary>
/// An aggregate's fold, discovered once from the aggregate itself: each public instance method <c>void Apply(TEvent e)</c>
/// of <typeparamref name="TState"/> applies that event type. A new event needs its Apply method and nothing else: no
/// switch lists the events (and a test holds every event type of the aggregate covered).
/// </summary>
public static class Fold<TState> where TState : class
{
    private static readonly FrozenDictionary<Type, Action<TState, object>> Appliers = typeof(TState)
        .GetMethods(BindingFlags.Public | BindingFlags.Instance)
        .Where(m => m.Name == "Apply" && m.ReturnType == typeof(void) && m.GetParameters().Length == 1)
        .ToFrozenDictionary(m => m.GetParameters()[0].ParameterType, Compile);

    /// <summary>The event types the aggregate applies.</summary>
    public static IReadOnlyCollection<Type> EventTypes => Appliers.Keys;

    public static bool Applies(Type eventType) => Appliers.ContainsKey(eventType);

    /// <summary>Applies one event to the state (in place); an event the aggregate has no Apply for is a bug.</summary>
    public static TState Apply(TState state, object e)
    {
        if (!Appliers.TryGetValue(e.GetType(), out var apply))
            throw new ArgumentException($"{e.GetType().Name} is not an event of {typeof(TState).Name} (it has no Apply for it).");
        apply(state, e);
        return state;
    }

    // (state, e) => state.Apply((TEvent)e), compiled once per event type.
    private static Action<TState, object> Compile(MethodInfo method)
    {
        var state = Expression.Parameter(typeof(TState), "state");
        var e = Expression.Parameter(typeof(object), "e");
        var call = Expression.Call(state, method, Expression.Convert(e, method.GetParameters()[0].ParameterType));
        return Expression.Lambda<Action<TState, object>>(call, state, e).Compile();
    }
}
