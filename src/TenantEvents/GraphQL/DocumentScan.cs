namespace TenantEvents.GraphQL;

/// <summary>Why a document is refused before it runs: a stable code (the error's extensions.code) and a sentence.</summary>
public sealed record DocumentRefusal(string Code, string Message)
{
    public global::GraphQL.ExecutionError ToError() => new(Message) { Code = Code };
}

/// <summary>
/// A lexer's count over the raw text, before the parser sees it: tokens (GraphQL's lexical grammar: punctuators, names,
/// numbers, strings; white space, commas and comments ignored) and the nesting of brackets. One pass, no allocation, and
/// it stops at the first token past the limit, so a megabyte of "me { id }" costs no more than the limit's worth of
/// scanning; the parser then only ever sees a document whose size and nesting are bounded.
/// </summary>
public static class DocumentScan
{
    /// <summary>Brackets ({ ( [) nest at most this deep: field depth is bounded after parsing, this keeps the parser's recursion small.</summary>
    public const int MaxNesting = 64;

    public static DocumentRefusal? Check(ReadOnlySpan<char> text, int maxTokens)
    {
        var tokens = 0;
        var nesting = 0;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\n' or '\r' or ',' or '\uFEFF')
            {
                i++;
                continue;
            }
            if (c == '#')
            {
                while (i < text.Length && text[i] is not ('\n' or '\r')) i++;
                continue;
            }
            if (++tokens > maxTokens)
                return new DocumentRefusal("TOO_MANY_TOKENS", $"The document has more than {maxTokens} tokens (names, punctuation and values); at most {maxTokens} are allowed.");
            if (c is '{' or '(' or '[')
            {
                if (++nesting > MaxNesting)
                    return new DocumentRefusal("TOO_DEEP", $"The document nests braces, parentheses or brackets more than {MaxNesting} deep; at most {MaxNesting} are allowed.");
                i++;
            }
            else if (c is '}' or ')' or ']')
            {
                nesting = Math.Max(0, nesting - 1);
                i++;
            }
            else if (c == '"') i = SkipString(text, i);
            else if (c == '.' && i + 2 < text.Length && text[i + 1] == '.' && text[i + 2] == '.') i += 3;
            else if (IsNameStart(c) || IsDigit(c) || c == '-')
            {
                var number = !IsNameStart(c);
                i++;
                // Names and numbers (1, -2.5e3): one token each; a malformed one is the parser's to report.
                while (i < text.Length && (IsNameStart(text[i]) || IsDigit(text[i]) || (number && text[i] is '.' or '+' or '-'))) i++;
            }
            else i++; // ! $ & : = @ | and anything the parser will refuse
        }
        return null;
    }

    /// <summary>The index after a string ("..." with escapes, or a """block string""" where \""" is an escaped quote).</summary>
    private static int SkipString(ReadOnlySpan<char> text, int start)
    {
        if (start + 2 < text.Length && text[start + 1] == '"' && text[start + 2] == '"')
        {
            var i = start + 3;
            while (i < text.Length)
            {
                if (text[i] == '\\' && i + 3 < text.Length && text[i + 1] == '"' && text[i + 2] == '"' && text[i + 3] == '"') i += 4;
                else if (text[i] == '"' && i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"') return i + 3;
                else i++;
            }
            return i;
        }
        var j = start + 1;
        while (j < text.Length && text[j] is not ('"' or '\n' or '\r')) j += text[j] == '\\' ? 2 : 1;
        return Math.Min(j + 1, text.Length);
    }

    private static bool IsNameStart(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_';

    private static bool IsDigit(char c) => c is >= '0' and <= '9';
}
