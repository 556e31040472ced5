using global::GraphQL;
using global::GraphQL.Types;
using GraphQLParser.AST;

namespace TenantEvents.GraphQL;

/// <summary>
/// The bounds of a parsed document, checked before it is validated or run: aliases, fragments, repeated fields, depth,
/// cost and the REST calls it would make. Each fragment is costed once (memoised, in the order its spreads need, a cycle being a refusal),
/// so the work is linear in the document's size however its fragments spread each other: a chain of fragments each
/// spreading the next twice costs 2^n and is refused after n steps, not 2^n.
/// <para>
/// Cost: a field costs 1, a REST-backed field <see cref="ApiCallCost"/>; what a list's items select is multiplied by
/// the list's length: its <c>first</c> (or its connection's) when given, else the REST default page
/// (<see cref="DefaultPageSize"/>). REST calls are counted the same way, so <c>organisations { nodes { children { ... } } }</c>
/// is 1 + 50 calls. Every operation of the document is costed (whichever one is run). @skip and @include are not
/// evaluated: the bound holds for either outcome.
/// </para>
/// <para>
/// Introspection reads the schema held in memory: its lists (types, fields, arguments) count as one item each, so a
/// client's standard introspection query passes; instead they may nest at most <see cref="MaxIntrospectionLists"/> deep
/// (types, their fields, their arguments), which bounds what <c>types { fields { type { fields { ... } } } }</c> can return;
/// their fields do not count toward the depth (a type reference's ofType chain is deep and cheap).
/// </para>
/// </summary>
public sealed class DocumentCost
{
    /// <summary>The cost of one REST-backed field, against 1 for a field read from what is already loaded.</summary>
    public const double ApiCallCost = 10;

    /// <summary>The page the REST list routes return when no limit is asked for.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>Introspection lists nested deeper than this (the standard query's types, fields, args) are refused.</summary>
    public const int MaxIntrospectionLists = 3;

    /// <summary>A field (response key) or fragment spread appears at most this often in one selection set.</summary>
    public const int MaxRepeats = 4;

    /// <summary>Field metadata that marks a field resolved by a REST call (<see cref="Rest.ResolveRest"/>).</summary>
    public const string RestBacked = "tenantevents:rest-backed";

    // A cost beyond every limit: sums and products stop growing here (no overflow, no infinity).
    private const double Ceiling = 1e15;

    private readonly record struct Cost(double Complexity, double ApiCalls, int Depth, int IntrospectionLists)
    {
        public static Cost operator +(Cost a, Cost b) => new(Math.Min(a.Complexity + b.Complexity, Ceiling), Math.Min(a.ApiCalls + b.ApiCalls, Ceiling),
            Math.Max(a.Depth, b.Depth), Math.Max(a.IntrospectionLists, b.IntrospectionLists));

        /// <summary>The larger of two operations' costs (only one of them runs).</summary>
        public Cost Max(Cost b) => new(Math.Max(Complexity, b.Complexity), Math.Max(ApiCalls, b.ApiCalls),
            Math.Max(Depth, b.Depth), Math.Max(IntrospectionLists, b.IntrospectionLists));
    }

    private readonly ISchema _schema;
    private readonly Inputs? _variables;
    private readonly Dictionary<string, GraphQLFragmentDefinition> _fragments = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Cost> _costed = new(StringComparer.Ordinal);
    private readonly List<string> _costing = [];

    private DocumentCost(ISchema schema, Inputs? variables)
    {
        _schema = schema;
        _variables = variables;
    }

    /// <summary>The first bound the document exceeds, or null.</summary>
    public static DocumentRefusal? Check(ISchema schema, GraphQLDocument document, Inputs? variables, GraphQLLimits limits)
    {
        var fragments = document.Definitions.OfType<GraphQLFragmentDefinition>().ToList();
        if (fragments.Count > limits.MaxFragments)
            return new("TOO_MANY_FRAGMENTS", $"The document defines {fragments.Count} fragments; at most {limits.MaxFragments} are allowed.");
        var aliases = document.Definitions.OfType<IHasSelectionSetNode>().Sum(d => Aliases(d.SelectionSet));
        if (aliases > limits.MaxAliases)
            return new("TOO_MANY_ALIASES", $"The document has {aliases} aliased fields; at most {limits.MaxAliases} are allowed.");
        foreach (var definition in document.Definitions.OfType<IHasSelectionSetNode>())
            if (Repeats(definition.SelectionSet) is { } repeated) return repeated;

        var cost = new DocumentCost(schema, variables);
        foreach (var fragment in fragments) cost._fragments.TryAdd(fragment.FragmentName.Name.StringValue, fragment);
        try
        {
            var total = default(Cost);
            foreach (var operation in document.Definitions.OfType<GraphQLOperationDefinition>())
            {
                IComplexGraphType? root = operation.Operation switch
                {
                    OperationType.Query => schema.Query,
                    OperationType.Mutation => schema.Mutation,
                    _ => schema.Subscription,
                };
                var one = cost.SelectionSet(operation.SelectionSet, root, null);
                total = total.Max(one);
            }
            // Fragments no operation uses are still walked: a cycle among them is refused here, not left to validation.
            foreach (var name in cost._fragments.Keys) cost.Fragment(name);
            if (total.Depth > limits.MaxDepth)
                return new("TOO_DEEP", $"The document nests fields {total.Depth} deep; at most {limits.MaxDepth} are allowed.");
            if (total.IntrospectionLists > MaxIntrospectionLists)
                return new("TOO_DEEP", $"The document nests introspection lists {total.IntrospectionLists} deep; at most {MaxIntrospectionLists} (types, their fields, their arguments) are allowed.");
            if (total.ApiCalls > limits.MaxApiCalls)
                return new("TOO_MANY_API_CALLS",
                    $"The document could make {Figure(total.ApiCalls)} REST calls (each REST-backed field, once per item of the lists around it); at most {limits.MaxApiCalls} are allowed. Ask for smaller pages (first) or fewer fields.");
            if (total.Complexity > limits.MaxComplexity)
                return new("TOO_COMPLEX",
                    $"The document costs {Figure(total.Complexity)} (a field 1, a REST-backed field {ApiCallCost}, times the items of the lists around it); at most {limits.MaxComplexity} is allowed. Ask for smaller pages (first) or fewer fields.");
            return null;
        }
        catch (FragmentCycleException cycle)
        {
            return new("FRAGMENT_CYCLE", cycle.Message);
        }
    }

    private static string Figure(double value) => value >= Ceiling ? "more than " + Ceiling.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
        : value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

    private static int Aliases(GraphQLSelectionSet? set)
    {
        if (set is null) return 0;
        var count = 0;
        foreach (var selection in set.Selections)
            count += selection switch
            {
                GraphQLField field => (field.Alias is null ? 0 : 1) + Aliases(field.SelectionSet),
                GraphQLInlineFragment inline => Aliases(inline.SelectionSet),
                _ => 0,
            };
        return count;
    }

    /// <summary>
    /// The first field (by its response key) or fragment spread that one selection set repeats more than
    /// <see cref="MaxRepeats"/> times. Validation compares every two fields of a selection set that share a response key
    /// (can they merge?), so n repeats cost n² comparisons: 2,000 "__typename" took most of a second.
    /// </summary>
    private static DocumentRefusal? Repeats(GraphQLSelectionSet? set)
    {
        if (set is null) return null;
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var selection in set.Selections)
        {
            string? key = null;
            GraphQLSelectionSet? inner = null;
            if (selection is GraphQLField field) (key, inner) = ((field.Alias?.Name ?? field.Name).StringValue, field.SelectionSet);
            else if (selection is GraphQLFragmentSpread spread) key = "..." + spread.FragmentName.Name.StringValue;
            else if (selection is GraphQLInlineFragment inline) inner = inline.SelectionSet;
            if (key is not null && (seen[key] = seen.GetValueOrDefault(key) + 1) > MaxRepeats)
                return new("TOO_MANY_REPEATS", $"A selection set repeats {key} more than {MaxRepeats} times; a field or fragment spread may appear at most {MaxRepeats} times in one selection set.");
            if (Repeats(inner) is { } refusal) return refusal;
        }
        return null;
    }

    private sealed class FragmentCycleException(string message) : Exception(message);

    /// <summary>A fragment's cost, computed once; a fragment met again while it is being costed spreads itself.</summary>
    private Cost Fragment(string name)
    {
        if (_costed.TryGetValue(name, out var known)) return known;
        if (!_fragments.TryGetValue(name, out var fragment)) return default; // unknown: validation reports it
        if (_costing.Contains(name))
            throw new FragmentCycleException($"Fragment {name} spreads itself ({string.Join(" -> ", _costing.SkipWhile(n => n != name).Append(name))}); fragments must not form cycles.");
        _costing.Add(name);
        var type = _schema.AllTypes[fragment.TypeCondition.Type.Name.StringValue] as IComplexGraphType;
        var cost = SelectionSet(fragment.SelectionSet, type, null);
        _costing.RemoveAt(_costing.Count - 1);
        _costed[name] = cost;
        return cost;
    }

    /// <summary>What a selection set costs under its type; <paramref name="page"/> is the page size its field asked for.</summary>
    private Cost SelectionSet(GraphQLSelectionSet? set, IComplexGraphType? type, int? page)
    {
        var total = default(Cost);
        if (set is null) return total;
        foreach (var selection in set.Selections)
            total += selection switch
            {
                GraphQLField field => Field(field, type, page),
                GraphQLFragmentSpread spread => Fragment(spread.FragmentName.Name.StringValue),
                GraphQLInlineFragment inline => SelectionSet(inline.SelectionSet,
                    inline.TypeCondition is { } condition ? _schema.AllTypes[condition.Type.Name.StringValue] as IComplexGraphType : type, page),
                _ => default,
            };
        return total;
    }

    private Cost Field(GraphQLField field, IComplexGraphType? parent, int? parentPage)
    {
        var name = field.Name.StringValue;
        var definition = name switch
        {
            "__schema" => _schema.SchemaMetaFieldType,
            "__type" => _schema.TypeMetaFieldType,
            "__typename" => _schema.TypeNameMetaFieldType,
            _ => parent?.GetField(name),
        };
        var rest = definition?.GetMetadata(RestBacked, false) == true;
        var type = definition?.ResolvedType;
        if (type is NonNullGraphType nonNull) type = nonNull.ResolvedType;
        var list = type is ListGraphType;
        while (type is ListGraphType or NonNullGraphType) type = type is ListGraphType l ? l.ResolvedType : ((NonNullGraphType)type).ResolvedType;
        var introspection = list && type?.Name.StartsWith("__", StringComparison.Ordinal) == true;
        var page = First(field);
        var children = SelectionSet(field.SelectionSet, type as IComplexGraphType, page);
        double items = !list || introspection ? 1 : Math.Max(1, page ?? parentPage ?? DefaultPageSize);
        return new Cost(
            Math.Min((rest ? ApiCallCost : 1) + items * children.Complexity, Ceiling),
            Math.Min((rest ? 1 : 0) + items * children.ApiCalls, Ceiling),
            (InIntrospection(parent) ? 0 : 1) + children.Depth,
            (introspection ? 1 : 0) + children.IntrospectionLists);
    }

    // Fields of the introspection types (__Type, __Field, ...) are bounded by the nesting of their lists, not by depth:
    // a type reference's ofType chain is deep in every client's introspection query and cheap.
    private static bool InIntrospection(IComplexGraphType? parent) => parent?.Name.StartsWith("__", StringComparison.Ordinal) == true;

    /// <summary>The field's first argument (a literal or a variable), the page size it asks for.</summary>
    private int? First(GraphQLField field)
    {
        var argument = field.Arguments?.FirstOrDefault(a => a.Name.StringValue == "first");
        return argument?.Value switch
        {
            GraphQLIntValue literal when int.TryParse(literal.Value.Span, out var n) => n,
            GraphQLVariable variable when _variables is not null && _variables.TryGetValue(variable.Name.StringValue, out var value) => value switch
            {
                int n => n,
                long n => (int)Math.Clamp(n, int.MinValue, int.MaxValue),
                _ => null,
            },
            _ => null,
        };
    }
}
