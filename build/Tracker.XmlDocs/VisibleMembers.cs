using System.Reflection;
using System.Reflection.Metadata;

namespace Tracker.XmlDocs;

/// <summary>
/// The documentation IDs (ECMA-334 annex D, as the C# compiler writes them) of the types and
/// members an assembly's users can see: public types and public nested types of those, and their
/// public and protected members, plus explicit implementations of visible interfaces. Also the
/// "names" (ID without parameters) of the members that are not visible, to tell an overload that
/// is hidden from a doc ID spelt differently.
/// </summary>
internal sealed class VisibleMembers
{
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly HashSet<string> _visibleNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _hiddenNames = new(StringComparer.Ordinal);

    private VisibleMembers()
    {
    }

    public bool Contains(string id) => _ids.Contains(id);

    /// <summary>True when a member of this name is visible and none of this name is hidden.</summary>
    public bool OnlyVisibleAreNamed(string id) => _visibleNames.Contains(NameOf(id)) && !_hiddenNames.Contains(NameOf(id));

    public static VisibleMembers Of(MetadataReader reader)
    {
        var members = new VisibleMembers();
        var types = new DocIdTypeProvider(reader);
        foreach (var handle in reader.TypeDefinitions)
        {
            var type = reader.GetTypeDefinition(handle);
            var typeName = types.GetTypeFromDefinition(reader, handle, 0);
            var typeVisible = IsVisible(reader, type);
            if (typeVisible)
            {
                members._ids.Add("T:" + typeName);
            }

            var explicitImplementations = ExplicitImplementationsOfVisibleInterfaces(reader, type);
            var visibleAccessors = new HashSet<MethodDefinitionHandle>();
            foreach (var methodHandle in type.GetMethods())
            {
                var method = reader.GetMethodDefinition(methodHandle);
                var visible = typeVisible && (IsVisible(method.Attributes) || explicitImplementations.Contains(methodHandle));
                if (visible)
                {
                    visibleAccessors.Add(methodHandle);
                }

                var name = reader.GetString(method.Name);
                var signature = method.DecodeSignature(types, null);
                var id = $"M:{typeName}.{MemberName(name)}";
                if (signature.GenericParameterCount > 0)
                {
                    id += "``" + signature.GenericParameterCount;
                }

                id += Parameters(signature.ParameterTypes);
                if (name is "op_Implicit" or "op_Explicit")
                {
                    id += "~" + signature.ReturnType;
                }

                members.Add(id, visible);
            }

            foreach (var fieldHandle in type.GetFields())
            {
                var field = reader.GetFieldDefinition(fieldHandle);
                var visible = typeVisible && IsVisible((MethodAttributes)(int)(field.Attributes & FieldAttributes.FieldAccessMask));
                members.Add($"F:{typeName}.{MemberName(reader.GetString(field.Name))}", visible);
            }

            foreach (var propertyHandle in type.GetProperties())
            {
                var property = reader.GetPropertyDefinition(propertyHandle);
                var accessors = property.GetAccessors();
                var visible = visibleAccessors.Contains(accessors.Getter) || visibleAccessors.Contains(accessors.Setter);
                var signature = property.DecodeSignature(types, null);
                members.Add($"P:{typeName}.{MemberName(reader.GetString(property.Name))}{Parameters(signature.ParameterTypes)}", visible);
            }

            foreach (var eventHandle in type.GetEvents())
            {
                var @event = reader.GetEventDefinition(eventHandle);
                var accessors = @event.GetAccessors();
                var visible = visibleAccessors.Contains(accessors.Adder) || visibleAccessors.Contains(accessors.Remover);
                members.Add($"E:{typeName}.{MemberName(reader.GetString(@event.Name))}", visible);
            }
        }

        return members;
    }

    private void Add(string id, bool visible)
    {
        if (visible)
        {
            _ids.Add(id);
            _visibleNames.Add(NameOf(id));
        }
        else
        {
            _hiddenNames.Add(NameOf(id));
        }
    }

    // "M:N.T`1.F``2(`0,``1)~R" -> "M:N.T`1.F": the member, whatever its overload.
    private static string NameOf(string id)
    {
        var end = id.IndexOfAny(['(', '~']);
        var name = end < 0 ? id : id[..end];
        var arity = name.LastIndexOf("``", StringComparison.Ordinal);
        return arity > 0 && name[(arity + 2)..].All(char.IsAsciiDigit) ? name[..arity] : name;
    }

    // The compiler's spelling of a member name in an ID: constructors as #ctor, and explicit
    // implementations ("System.IDisposable.Dispose") with # for dots and {} @ for <> and commas.
    private static string MemberName(string name) => name switch
    {
        ".ctor" => "#ctor",
        ".cctor" => "#cctor",
        _ => name.Replace('.', '#').Replace('<', '{').Replace('>', '}').Replace(',', '@'),
    };

    private static string Parameters(IEnumerable<string> types)
    {
        var list = string.Join(",", types);
        return list.Length == 0 ? string.Empty : $"({list})";
    }

    private static bool IsVisible(MetadataReader reader, TypeDefinition type)
    {
        var visibility = type.Attributes & TypeAttributes.VisibilityMask;
        if (visibility == TypeAttributes.Public)
        {
            return true;
        }

        var nestedVisible = visibility is TypeAttributes.NestedPublic or TypeAttributes.NestedFamily or TypeAttributes.NestedFamORAssem;
        return nestedVisible && IsVisible(reader, reader.GetTypeDefinition(type.GetDeclaringType()));
    }

    private static bool IsVisible(MethodAttributes attributes) =>
        (attributes & MethodAttributes.MemberAccessMask) is MethodAttributes.Public or MethodAttributes.Family or MethodAttributes.FamORAssem;

    // Private methods that implement an interface method the assembly's users can see (one of
    // another assembly, or a visible one of this assembly).
    private static HashSet<MethodDefinitionHandle> ExplicitImplementationsOfVisibleInterfaces(MetadataReader reader, TypeDefinition type)
    {
        var result = new HashSet<MethodDefinitionHandle>();
        foreach (var handle in type.GetMethodImplementations())
        {
            var implementation = reader.GetMethodImplementation(handle);
            if (implementation.MethodBody.Kind != HandleKind.MethodDefinition)
            {
                continue;
            }

            var declaration = implementation.MethodDeclaration;
            var interfaceVisible = declaration.Kind != HandleKind.MethodDefinition
                || IsVisible(reader, reader.GetTypeDefinition(reader.GetMethodDefinition((MethodDefinitionHandle)declaration).GetDeclaringType()));
            if (interfaceVisible)
            {
                result.Add((MethodDefinitionHandle)implementation.MethodBody);
            }
        }

        return result;
    }
}
