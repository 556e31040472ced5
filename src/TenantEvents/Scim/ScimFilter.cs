using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TenantEvents.Scim;

/// <summary>A filter (or PATCH path) that does not follow RFC 7644 section 3.4.2.2: answered as 400 invalidFilter / invalidPath.</summary>
public sealed class ScimFilterException(string message) : Exception(message);

/// <summary>An attribute path: [schema URN ":"] attribute ["." sub-attribute], names compared case-insensitively.</summary>
public sealed record AttrPath(string? Schema, string Attribute, string? SubAttribute)
{
    public override string ToString() => (Schema is null ? "" : Schema + ":") + Attribute + (SubAttribute is null ? "" : "." + SubAttribute);

    /// <summary>Parses "userName", "name.familyName", "urn:...:enterprise:2.0:User:manager.value".</summary>
    public static AttrPath Parse(string text)
    {
        string? schema = null;
        var rest = text;
        if (text.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            var colon = text.LastIndexOf(':');
            schema = text[..colon];
            rest = text[(colon + 1)..];
        }
        var dot = rest.IndexOf('.');
        var attribute = dot < 0 ? rest : rest[..dot];
        var sub = dot < 0 ? null : rest[(dot + 1)..];
        if (!IsName(attribute) || (sub is not null && !IsName(sub)))
            throw new ScimFilterException($"'{text}' is not an attribute path.");
        return new AttrPath(schema, attribute, sub);
    }

    private static bool IsName(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '$') && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$');
}

/// <summary>The filter grammar of RFC 7644 section 3.4.2.2, parsed once and evaluated against resources.</summary>
public abstract record ScimFilter
{
    public static readonly IReadOnlySet<string> Operators = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le" };

    public static ScimFilter Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ScimFilterException("The filter is empty.");
        if (text.Length > 4096) throw new ScimFilterException("The filter is longer than 4096 characters.");
        var parser = new Parser(Tokenize(text));
        var filter = parser.ParseOr(0);
        if (!parser.AtEnd) throw new ScimFilterException($"Unexpected '{parser.Peek.Text}' after a complete filter.");
        return filter;
    }

    /// <summary>Whether the resource (or, inside a value path, one value of a multi-valued attribute) matches.</summary>
    public abstract bool Matches(JsonElement resource, ScimSchema schema);

    // ---- the grammar's parts ----------------------------------------------------------------------------------------

    public sealed record Compare(AttrPath Path, string Op, JsonElement Value) : ScimFilter
    {
        // Decided once per filter, not once per resource.
        private readonly string _op = Op.ToLowerInvariant();
        private readonly bool _caseExact = ScimSchema.CaseExact(Path);
        private readonly bool _dateTime = ScimSchema.IsDateTime(Path);
        private readonly string? _text = Value.ValueKind == JsonValueKind.String ? Value.GetString() : null;

        /// <summary>The compared text as ASCII bytes, when it is ASCII: then most values are compared without making a string.</summary>
        private readonly byte[]? _ascii = Value.ValueKind == JsonValueKind.String && System.Text.Ascii.IsValid(Value.GetString()!)
            ? System.Text.Encoding.ASCII.GetBytes(Value.GetString()!) : null;

        public override bool Matches(JsonElement resource, ScimSchema schema)
        {
            if (Value.ValueKind == JsonValueKind.Null)
                return _op switch
                {
                    "eq" => !ScimValues.Any(resource, Path, schema, static (_, _) => true, this),
                    "ne" => ScimValues.Any(resource, Path, schema, static (_, _) => true, this),
                    _ => throw new ScimFilterException($"'{Op}' cannot compare with null."),
                };
            if (_op == "ne") return !ScimValues.Any(resource, Path, schema, static (v, self) => self.Test(v, "eq"), this);
            return ScimValues.Any(resource, Path, schema, static (v, self) => self.Test(v, self._op), this);
        }

        private bool Test(JsonElement actual, string op)
        {
            switch (Value.ValueKind)
            {
                case JsonValueKind.String:
                    if (actual.ValueKind != JsonValueKind.String) return false;
                    if (!_dateTime && _ascii is { } pattern && op is "eq" or "sw" or "ew" or "co")
                    {
                        // The stored value's own bytes: when it is plain ASCII (no escapes), ASCII case folding is exactly
                        // OrdinalIgnoreCase, and no string is made for it.
                        var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(actual);
                        var inner = raw[1..^1];
                        if (inner.IndexOf((byte)'\\') < 0 && System.Text.Ascii.IsValid(inner))
                            return op switch
                            {
                                "eq" => _caseExact ? inner.SequenceEqual(pattern) : System.Text.Ascii.EqualsIgnoreCase(inner, pattern),
                                "sw" => inner.Length >= pattern.Length && (_caseExact ? inner.StartsWith(pattern)
                                    : System.Text.Ascii.EqualsIgnoreCase(inner[..pattern.Length], pattern)),
                                "ew" => inner.Length >= pattern.Length && (_caseExact ? inner.EndsWith(pattern)
                                    : System.Text.Ascii.EqualsIgnoreCase(inner[^pattern.Length..], pattern)),
                                _ => _caseExact ? inner.IndexOf(pattern) >= 0 : ContainsIgnoreCase(inner, pattern),
                            };
                    }
                    var b = _text!;
                    if (_caseExact && op == "eq") return actual.ValueEquals(b); // no string made for the commonest test
                    var a = actual.GetString()!;
                    if (_dateTime && DateTimeOffset.TryParse(a, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var da)
                        && DateTimeOffset.TryParse(b, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var db))
                        return Order(da.CompareTo(db), op);
                    var comparison = _caseExact ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
                    return op switch
                    {
                        "eq" => string.Equals(a, b, comparison),
                        "co" => a.Contains(b, comparison),
                        "sw" => a.StartsWith(b, comparison),
                        "ew" => a.EndsWith(b, comparison),
                        _ => Order(string.Compare(a, b, comparison), op),
                    };
                case JsonValueKind.True or JsonValueKind.False:
                    if (op is not ("eq")) throw new ScimFilterException($"'{Op}' does not apply to a boolean.");
                    return actual.ValueKind is JsonValueKind.True or JsonValueKind.False && actual.GetBoolean() == Value.GetBoolean();
                case JsonValueKind.Number:
                    if (op is "co" or "sw" or "ew") throw new ScimFilterException($"'{Op}' does not apply to a number.");
                    // A stored number beyond decimal's range compares with nothing; the filter's own was checked when parsed.
                    return actual.ValueKind == JsonValueKind.Number && actual.TryGetDecimal(out var n) && Order(n.CompareTo(Value.GetDecimal()), op);
                default:
                    return false;
            }
        }

        private static bool Order(int c, string op) => op switch
        {
            "eq" => c == 0, "gt" => c > 0, "ge" => c >= 0, "lt" => c < 0, "le" => c <= 0,
            _ => throw new ScimFilterException($"'{op}' does not apply here."),
        };

        private static bool ContainsIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> part)
        {
            if (part.Length == 0) return true;
            for (var i = 0; i + part.Length <= text.Length; i++)
                if (System.Text.Ascii.EqualsIgnoreCase(text.Slice(i, part.Length), part)) return true;
            return false;
        }
    }

    public sealed record Present(AttrPath Path) : ScimFilter
    {
        public override bool Matches(JsonElement resource, ScimSchema schema) =>
            ScimValues.Any(resource, Path, schema, static (v, _) => v.ValueKind switch
            {
                JsonValueKind.Null or JsonValueKind.Undefined => false,
                JsonValueKind.String => !v.ValueEquals(""),
                JsonValueKind.Array => v.GetArrayLength() > 0,
                JsonValueKind.Object => v.EnumerateObject().Any(),
                _ => true,
            }, this);
    }

    public sealed record And(ScimFilter Left, ScimFilter Right) : ScimFilter
    {
        public override bool Matches(JsonElement resource, ScimSchema schema) => Left.Matches(resource, schema) && Right.Matches(resource, schema);
    }

    public sealed record Or(ScimFilter Left, ScimFilter Right) : ScimFilter
    {
        public override bool Matches(JsonElement resource, ScimSchema schema) => Left.Matches(resource, schema) || Right.Matches(resource, schema);
    }

    public sealed record Not(ScimFilter Inner) : ScimFilter
    {
        public override bool Matches(JsonElement resource, ScimSchema schema) => !Inner.Matches(resource, schema);
    }

    /// <summary>emails[type eq "work" and value co "@example.com"]: some value of the attribute matches the inner filter.</summary>
    public sealed record ValuePath(AttrPath Path, ScimFilter Inner) : ScimFilter
    {
        public override bool Matches(JsonElement resource, ScimSchema schema)
        {
            if (ScimValues.Attribute(resource, Path, schema) is not { } attribute) return false;
            return attribute.ValueKind == JsonValueKind.Array
                ? attribute.EnumerateArray().Any(v => Inner.Matches(v, ScimSchema.Nested))
                : Inner.Matches(attribute, ScimSchema.Nested);
        }
    }

    // ---- tokens and the recursive-descent parser ---------------------------------------------------------------------

    private enum Kind { Word, String, Number, LParen, RParen, LBracket, RBracket, End }

    private sealed record Token(Kind Kind, string Text, int Position);

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            switch (c)
            {
                case '(': tokens.Add(new(Kind.LParen, "(", i++)); continue;
                case ')': tokens.Add(new(Kind.RParen, ")", i++)); continue;
                case '[': tokens.Add(new(Kind.LBracket, "[", i++)); continue;
                case ']': tokens.Add(new(Kind.RBracket, "]", i++)); continue;
                case '"':
                {
                    var start = i++;
                    var escaped = false;
                    while (i < text.Length && (escaped || text[i] != '"'))
                    {
                        escaped = !escaped && text[i] == '\\';
                        i++;
                    }
                    if (i >= text.Length) throw new ScimFilterException($"The string starting at position {start} is not closed.");
                    i++;
                    tokens.Add(new(Kind.String, text[start..i], start));
                    continue;
                }
            }
            if (c == '-' || char.IsAsciiDigit(c))
            {
                var start = i++;
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] is '.' or 'e' or 'E' or '+' or '-')) i++;
                tokens.Add(new(Kind.Number, text[start..i], start));
                continue;
            }
            if (char.IsAsciiLetter(c) || c is '$' or '_')
            {
                var start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is ':' or '.' or '_' or '-' or '$')) i++;
                tokens.Add(new(Kind.Word, text[start..i], start));
                continue;
            }
            throw new ScimFilterException($"Unexpected character '{c}' at position {i}.");
        }
        tokens.Add(new(Kind.End, "end of filter", text.Length));
        return tokens;
    }

    private sealed class Parser(List<Token> tokens)
    {
        private int _next;
        private const int MaxDepth = 50;

        public Token Peek => tokens[_next];
        public bool AtEnd => Peek.Kind == Kind.End;

        private Token Take() => tokens[_next++];

        private bool IsWord(string word) => Peek.Kind == Kind.Word && string.Equals(Peek.Text, word, StringComparison.OrdinalIgnoreCase);

        private void Expect(Kind kind, string what)
        {
            if (Peek.Kind != kind) throw new ScimFilterException($"Expected {what} at position {Peek.Position}, found '{Peek.Text}'.");
            _next++;
        }

        public ScimFilter ParseOr(int depth)
        {
            var left = ParseAnd(depth);
            while (IsWord("or"))
            {
                Take();
                left = new Or(left, ParseAnd(depth));
            }
            return left;
        }

        private ScimFilter ParseAnd(int depth)
        {
            var left = ParseUnary(depth);
            while (IsWord("and"))
            {
                Take();
                left = new And(left, ParseUnary(depth));
            }
            return left;
        }

        private ScimFilter ParseUnary(int depth)
        {
            if (depth > MaxDepth) throw new ScimFilterException($"The filter nests deeper than {MaxDepth} levels.");
            if (IsWord("not"))
            {
                Take();
                Expect(Kind.LParen, "'(' after not");
                var inner = ParseOr(depth + 1);
                Expect(Kind.RParen, "')'");
                return new Not(inner);
            }
            if (Peek.Kind == Kind.LParen)
            {
                Take();
                var inner = ParseOr(depth + 1);
                Expect(Kind.RParen, "')'");
                return inner;
            }
            if (Peek.Kind != Kind.Word) throw new ScimFilterException($"Expected an attribute at position {Peek.Position}, found '{Peek.Text}'.");
            var path = AttrPath.Parse(Take().Text);
            if (Peek.Kind == Kind.LBracket)
            {
                if (path.SubAttribute is not null) throw new ScimFilterException($"'{path}[...]': a value filter applies to a multi-valued attribute, not a sub-attribute.");
                Take();
                var inner = ParseOr(depth + 1);
                Expect(Kind.RBracket, "']'");
                return new ValuePath(path, inner);
            }
            if (Peek.Kind != Kind.Word) throw new ScimFilterException($"Expected an operator after '{path}' at position {Peek.Position}.");
            var op = Take().Text;
            if (string.Equals(op, "pr", StringComparison.OrdinalIgnoreCase)) return new Present(path);
            if (!Operators.Contains(op)) throw new ScimFilterException($"'{op}' is not a SCIM operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr).");
            return new Compare(path, op, Value());
        }

        private JsonElement Value()
        {
            var token = Take();
            try
            {
                return token.Kind switch
                {
                    Kind.String => JsonDocument.Parse(token.Text).RootElement.Clone(),
                    Kind.Number => JsonDocument.Parse(token.Text).RootElement.Clone() is { } number && number.TryGetDecimal(out _)
                        ? number
                        : throw new ScimFilterException($"'{token.Text}' at position {token.Position} is not a number this service can compare."),
                    Kind.Word when token.Text is "true" or "false" or "null" => JsonDocument.Parse(token.Text).RootElement.Clone(),
                    _ => throw new ScimFilterException($"Expected a value (string, number, true, false or null) at position {token.Position}, found '{token.Text}'."),
                };
            }
            catch (JsonException)
            {
                throw new ScimFilterException($"'{token.Text}' at position {token.Position} is not a valid value.");
            }
        }
    }
}

/// <summary>Reads attribute values from a SCIM resource as JSON: names case-insensitive, extension schemas by URN.</summary>
public static class ScimValues
{
    /// <summary>
    /// A property by name, ignoring case. Stored resources spell the schema's attributes canonically
    /// (<see cref="ScimSchema.Canonical"/>), so a known name is one exact lookup; only other names need a scan.
    /// </summary>
    public static JsonElement? Property(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object) return null;
        var canonical = ScimSchema.Canonical(name);
        if (canonical is not null ? obj.TryGetProperty(ScimSchema.Utf8(canonical), out var exact) : obj.TryGetProperty(name, out exact)) return exact;
        if (canonical is not null && ScimSchema.IsCanonical(name)) return null;
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) return p.Value;
        return null;
    }

    /// <summary>Whether any value the comparison looks at (see <see cref="Of"/>) satisfies the test; allocates nothing.</summary>
    public static bool Any<TState>(JsonElement resource, AttrPath path, ScimSchema schema, Func<JsonElement, TState, bool> test, TState state)
    {
        if (Attribute(resource, path, schema) is not { } attribute || attribute.ValueKind == JsonValueKind.Null) return false;
        if (attribute.ValueKind != JsonValueKind.Array) return One(attribute, path, test, state);
        foreach (var v in attribute.EnumerateArray())
            if (One(v, path, test, state)) return true;
        return false;

        static bool One(JsonElement v, AttrPath path, Func<JsonElement, TState, bool> test, TState state)
        {
            JsonElement? target = path.SubAttribute is { } sub ? Property(v, sub) : v.ValueKind == JsonValueKind.Object ? Property(v, "value") : v;
            return target is { ValueKind: not JsonValueKind.Null } t && test(t, state);
        }
    }

    /// <summary>The attribute itself (the whole array for a multi-valued one), or null.</summary>
    public static JsonElement? Attribute(JsonElement resource, AttrPath path, ScimSchema schema)
    {
        var owner = resource;
        if (path.Schema is { } urn && !schema.IsCore(urn))
        {
            if (Property(resource, urn) is not { } extension) return null;
            owner = extension;
        }
        return Property(owner, path.Attribute);
    }

    /// <summary>
    /// The values a comparison looks at: a simple attribute's value; each value of a multi-valued one (its "value"
    /// sub-attribute for complex values); a sub-attribute across every value.
    /// </summary>
    public static IReadOnlyList<JsonElement> Of(JsonElement resource, AttrPath path, ScimSchema schema)
    {
        if (Attribute(resource, path, schema) is not { } attribute || attribute.ValueKind == JsonValueKind.Null) return [];
        var list = new List<JsonElement>();
        void Add(JsonElement v)
        {
            if (path.SubAttribute is { } sub)
            {
                if (Property(v, sub) is { } s && s.ValueKind != JsonValueKind.Null) list.Add(s);
            }
            else if (v.ValueKind == JsonValueKind.Object)
            {
                if (Property(v, "value") is { } s && s.ValueKind != JsonValueKind.Null) list.Add(s);
            }
            else list.Add(v);
        }
        if (attribute.ValueKind == JsonValueKind.Array)
            foreach (var v in attribute.EnumerateArray()) Add(v);
        else Add(attribute);
        return list;
    }
}
