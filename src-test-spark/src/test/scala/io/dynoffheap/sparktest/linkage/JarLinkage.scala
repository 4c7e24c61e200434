package io.dynoffheap.sparktest.linkage

import java.io.File
import java.lang.reflect.{Constructor, Method}
import java.util.jar.JarFile

import scala.collection.JavaConverters._
import scala.collection.mutable

/**
 * Whether the classes of a jar link against the class path they run on: the check that lets one
 * plugin jar serve every Spark line.
 *
 * For each class of the jar under `ownPackage` it reads the constant pool
 * ([[ClassReferences]]) and reports
 *  - every Scala type it names (a class entry or a descriptor/signature mentioning `scala/`):
 *    Scala's library differs between the lines (2.12, 2.13), so the jar must name none;
 *  - every class it names that neither the jar nor `loader` has;
 *  - every field or method it uses that the owner class, its superclasses and its interfaces do
 *    not declare with that name and descriptor on `loader` (a member Spark or Arrow removed or
 *    changed in this line). Owners in the jar count too: a subclass of a Spark class that uses an
 *    inherited member names itself as the owner (Spark 4.2 turned MemoryConsumer's `long used`
 *    into an `AtomicLong`, which a field access through the plugin's subclass did not survive).
 *    MethodHandle and VarHandle methods are matched by name only: they are signature-polymorphic.
 *
 * Classes are looked up without being initialised, so nothing of them runs.
 */
object JarLinkage {

  def problems(jar: File, ownPackage: String, loader: ClassLoader): Seq[String] = {
    val classes = readClasses(jar)
    val inJar = classes.map(_.className).toSet
    classes.filter(_.className.startsWith(ownPackage)).sortBy(_.className).flatMap { refs =>
      check(refs, inJar, new Lookup(loader)).map(p => s"${refs.className.replace('/', '.')}: $p")
    }
  }

  /** The problems of one class's references (see the object's comment). */
  def check(refs: ClassReferences, inJar: Set[String], lookup: Lookup): Seq[String] = {
    val scalaTypes = refs.classes.map(elementType).filter(_.startsWith("scala/")) ++
      refs.utf8.filter(s => ScalaInDescriptor.findFirstIn(s).isDefined)
    val scala = scalaTypes.toSeq.sorted.map(t => s"refers to the Scala type(s) in `$t`")
    val external = (refs.classes.map(elementType) ++ refs.members.map(m => elementType(m.owner)))
      .filter(c => c.nonEmpty && !inJar(c))
    val missingClasses = external.toSeq.sorted.filter(lookup.find(_).isEmpty)
      .map(c => s"uses the class ${c.replace('/', '.')}, which is not on this class path")
    val missingMembers = refs.members.toSeq
      .filter(m => lookup.find(elementType(m.owner)).isDefined)
      .filterNot(lookup.resolves)
      .map(m => s"uses ${if (m.isField) "the field" else "the method"} $m, which this class path lacks")
      .sorted
    scala ++ missingClasses ++ missingMembers
  }

  /** A Scala type inside a descriptor or signature: `Lscala/...` after `(`, `)`, `;`, `[`, `<` or at the start. */
  private val ScalaInDescriptor = "(?:^|[()\\[;<])Lscala/".r

  /** `[[Lfoo/Bar;` and `foo/Bar` give `foo/Bar`; a primitive array gives "". */
  private def elementType(name: String): String = {
    val element = name.dropWhile(_ == '[')
    if (element.length == name.length) name
    else if (element.startsWith("L")) element.substring(1, element.length - 1)
    else ""
  }

  private def readClasses(jar: File): Seq[ClassReferences] = {
    val file = new JarFile(jar)
    try {
      file.entries().asScala
        .filter(e => e.getName.endsWith(".class") && !e.getName.startsWith("META-INF/"))
        .filterNot(_.getName.endsWith("module-info.class"))
        .map { e =>
          val in = file.getInputStream(e)
          val bytes = try in.readAllBytes() finally in.close()
          ClassReferences.read(e.getName.stripSuffix(".class"), bytes)
        }
        .toList
    } finally file.close()
  }

  /** Classes and members as `loader` sees them. */
  final class Lookup(loader: ClassLoader) {
    private val found = mutable.Map.empty[String, Option[Class[_]]]

    def find(internalName: String): Option[Class[_]] = found.getOrElseUpdate(internalName,
      try Some(Class.forName(internalName.replace('/', '.'), false, loader))
      catch { case _: ClassNotFoundException | _: LinkageError => None })

    def resolves(m: MemberRef): Boolean = {
      val owner = find(elementType(m.owner)).get
      if (m.owner.startsWith("[")) true // clone() and length of arrays
      else if (m.isField) hierarchy(owner).exists(_.getDeclaredFields.exists(f =>
        f.getName == m.name && descriptor(f.getType) == m.descriptor))
      else if (m.name == "<init>") owner.getDeclaredConstructors.exists(c => descriptor(c) == m.descriptor)
      else if (SignaturePolymorphic(owner.getName)) owner.getDeclaredMethods.exists(_.getName == m.name)
      else hierarchy(owner).exists(_.getDeclaredMethods.exists(x =>
        x.getName == m.name && descriptor(x) == m.descriptor))
    }

    private val SignaturePolymorphic = Set("java.lang.invoke.MethodHandle", "java.lang.invoke.VarHandle")

    /** The class, its superclasses and all their interfaces (Object for interfaces too). */
    private def hierarchy(c: Class[_]): Seq[Class[_]] = {
      val seen = mutable.LinkedHashSet.empty[Class[_]]
      def visit(k: Class[_]): Unit = if (k != null && seen.add(k)) {
        visit(k.getSuperclass)
        k.getInterfaces.foreach(visit)
      }
      visit(c)
      seen.toSeq :+ classOf[Object]
    }
  }

  private def descriptor(m: Method): String =
    m.getParameterTypes.map(descriptor).mkString("(", "", ")") + descriptor(m.getReturnType)

  private def descriptor(c: Constructor[_]): String =
    c.getParameterTypes.map(descriptor).mkString("(", "", ")V")

  private def descriptor(c: Class[_]): String =
    if (c.isArray) c.getName.replace('.', '/')
    else if (c.isPrimitive) c match {
      case java.lang.Integer.TYPE => "I"
      case java.lang.Long.TYPE => "J"
      case java.lang.Boolean.TYPE => "Z"
      case java.lang.Byte.TYPE => "B"
      case java.lang.Character.TYPE => "C"
      case java.lang.Short.TYPE => "S"
      case java.lang.Double.TYPE => "D"
      case java.lang.Float.TYPE => "F"
      case _ => "V"
    }
    else "L" + c.getName.replace('.', '/') + ";"
}
