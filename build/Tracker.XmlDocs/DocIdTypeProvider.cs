using System.Collections.Immutable;
using System.Reflection.Metadata;

namespace Tracker.XmlDocs;

/// <summary>
/// Spells a type in a signature as a documentation ID does: full names with dots for nesting,
/// <c>{A,B}</c> for generic arguments, <c>`0</c> and <c>``0</c> for type and method type
/// parameters, <c>[]</c>, <c>[0:,0:]</c>, <c>*</c>, and <c>@</c> for ref, in and out. Custom
/// modifiers are left out, as the compiler leaves them out.
/// </summary>
internal sealed class DocIdTypeProvider(MetadataReader reader) : ISignatureTypeProvider<string, object?>
{
    public string GetPrimitiveType(PrimitiveTypeCode typeCode) => "System." + typeCode switch
    {
        PrimitiveTypeCode.IntPtr => "IntPtr",
        PrimitiveTypeCode.UIntPtr => "UIntPtr",
        _ => typeCode.ToString(),
    };

    /// <summary>The definition's own name, generic arity kept (<c>N.Outer`1.Inner</c>).</summary>
    public string GetTypeFromDefinition(MetadataReader reader1, TypeDefinitionHandle handle, byte rawTypeKind)
    {
        var type = reader.GetTypeDefinition(handle);
        var name = reader.GetString(type.Name);
        if (type.IsNested)
        {
            return GetTypeFromDefinition(reader, type.GetDeclaringType(), rawTypeKind) + "." + name;
        }

        var space = reader.GetString(type.Namespace);
        return space.Length == 0 ? name : space + "." + name;
    }

    public string GetTypeFromReference(MetadataReader reader1, TypeReferenceHandle handle, byte rawTypeKind)
    {
        var type = reader.GetTypeReference(handle);
        var name = reader.GetString(type.Name);
        if (type.ResolutionScope.Kind == HandleKind.TypeReference)
        {
            return GetTypeFromReference(reader, (TypeReferenceHandle)type.ResolutionScope, rawTypeKind) + "." + name;
        }

        var space = reader.GetString(type.Namespace);
        return space.Length == 0 ? name : space + "." + name;
    }

    public string GetTypeFromSpecification(MetadataReader reader1, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
        reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

    /// <summary><c>N.Outer`1.Inner`1</c> with (A, B) is <c>N.Outer{A}.Inner{B}</c>.</summary>
    public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments)
    {
        var parts = genericType.Split('.');
        var next = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            var tick = parts[i].IndexOf('`', StringComparison.Ordinal);
            if (tick >= 0 && int.TryParse(parts[i].AsSpan(tick + 1), out var arity))
            {
                parts[i] = parts[i][..tick] + "{" + string.Join(",", typeArguments.Skip(next).Take(arity)) + "}";
                next += arity;
            }
        }

        return string.Join(".", parts);
    }

    public string GetSZArrayType(string elementType) => elementType + "[]";

    public string GetArrayType(string elementType, ArrayShape shape) =>
        elementType + "[" + string.Join(",", Enumerable.Repeat("0:", shape.Rank)) + "]";

    public string GetByReferenceType(string elementType) => elementType + "@";

    public string GetPointerType(string elementType) => elementType + "*";

    public string GetPinnedType(string elementType) => elementType;

    public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;

    public string GetGenericTypeParameter(object? genericContext, int index) => "`" + index;

    public string GetGenericMethodParameter(object? genericContext, int index) => "``" + index;

    public string GetFunctionPointerType(MethodSignature<string> signature) =>
        "=FUNC:" + signature.ReturnType + "(" + string.Join(",", signature.ParameterTypes) + ")";
}
