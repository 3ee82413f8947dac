using Scriban;
using Scriban.Parsing;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Mep.Grains.UserConfig.Templating;

/// <summary>
/// <c>{% include "name" %}</c> reads only files inside the template's own directory: no absolute path, no <c>..</c>,
/// and no symbolic link that leads out of it. Included files are Jinja too and are rewritten the same way.
/// </summary>
internal sealed class DirectoryTemplateLoader(string? directory, int maxChars) : ITemplateLoader
{
    public string GetPath(TemplateContext context, SourceSpan callerSpan, string templateName)
    {
        if (directory is null)
        {
            throw new ScriptRuntimeException(callerSpan, $"include '{templateName}': this template has no directory to include from");
        }

        var parts = templateName.Split('/');
        if (templateName.Length == 0 || Path.IsPathRooted(templateName) || templateName.Contains('\\')
            || parts.Any(p => p is ".." or "." or ""))
        {
            throw new ScriptRuntimeException(callerSpan, $"include '{templateName}': only a relative path inside the template's directory is allowed");
        }

        var root = RealPath(directory);
        var target = RealPath(Path.Combine(root, templateName));
        if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ScriptRuntimeException(callerSpan, $"include '{templateName}': it leads outside the template's directory");
        }

        return target;
    }

    public string Load(TemplateContext context, SourceSpan callerSpan, string templatePath)
    {
        var info = new FileInfo(templatePath);
        if (!info.Exists)
        {
            throw new ScriptRuntimeException(callerSpan, $"include: {Path.GetFileName(templatePath)} does not exist");
        }

        if (info.Length > maxChars)
        {
            throw new ScriptRuntimeException(callerSpan, $"include: {Path.GetFileName(templatePath)} is too large");
        }

        try
        {
            return JinjaRewriter.Rewrite(File.ReadAllText(templatePath), templatePath);
        }
        catch (InvalidOperationException e)
        {
            throw new ScriptRuntimeException(callerSpan, e.Message);
        }
    }

    public ValueTask<string?> LoadAsync(TemplateContext context, SourceSpan callerSpan, string templatePath) =>
        ValueTask.FromResult<string?>(Load(context, callerSpan, templatePath));

    /// <summary>The path with every symbolic link resolved, component by component (.NET has no realpath).</summary>
    internal static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        foreach (var part in full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            var followed = false;
            for (var hops = 0; ; hops++)
            {
                FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
                if (info.LinkTarget is null)
                {
                    break;
                }

                if (hops == 40)
                {
                    throw new IOException($"too many symbolic links at {path}");
                }

                next = Path.GetFullPath(info.LinkTarget, Path.GetDirectoryName(next)!);
                followed = true;
            }

            // A link's target may itself pass through links: resolve it in turn.
            current = followed ? RealPath(next) : next;
        }

        return current;
    }
}
