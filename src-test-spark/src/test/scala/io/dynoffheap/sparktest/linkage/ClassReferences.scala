package io.dynoffheap.sparktest.linkage

import java.io.{ByteArrayInputStream, DataInputStream}

import scala.collection.mutable

/**
 * What one compiled class refers to, read from its constant pool (JVM spec 4.4): the classes
 * it names, the fields and methods it uses (owner, name, descriptor) and its UTF-8 constants,
 * which hold every type descriptor and generic signature of the class.
 *
 * Reading: after magic and version comes the pool count n, then entries 1..n-1, each a tag
 * byte and a body whose size the tag fixes (Utf8: a length and that many bytes; Long and
 * Double take two slots). Class, NameAndType and member entries point at other entries by
 * index, so the whole pool is read first and the references resolved afterwards.
 */
final case class ClassReferences(
    className: String,
    classes: Set[String],
    members: Set[MemberRef],
    utf8: Set[String])

/** A field or method another class is used through: `owner` in internal form (a/b/C). */
final case class MemberRef(owner: String, name: String, descriptor: String, isField: Boolean) {
  override def toString: String = s"${owner.replace('/', '.')}.$name$descriptor"
}

object ClassReferences {
  private val Utf8 = 1
  private val Class = 7
  private val Fieldref = 9
  private val Methodref = 10
  private val InterfaceMethodref = 11
  private val NameAndType = 12

  def read(className: String, bytes: Array[Byte]): ClassReferences = {
    val in = new DataInputStream(new ByteArrayInputStream(bytes))
    require(in.readInt() == 0xCAFEBABE, s"$className is not a class file")
    in.readUnsignedShort() // minor
    in.readUnsignedShort() // major
    val count = in.readUnsignedShort()
    val tags = new Array[Int](count)
    val strings = new Array[String](count)
    val firsts = new Array[Int](count)
    val seconds = new Array[Int](count)
    var i = 1
    while (i < count) {
      val tag = in.readUnsignedByte()
      tags(i) = tag
      tag match {
        case Utf8 => strings(i) = in.readUTF()
        case Class | 8 | 16 | 19 | 20 => firsts(i) = in.readUnsignedShort() // Class, String, MethodType, Module, Package
        case Fieldref | Methodref | InterfaceMethodref | NameAndType | 17 | 18 =>
          firsts(i) = in.readUnsignedShort()
          seconds(i) = in.readUnsignedShort()
        case 3 | 4 => in.readInt() // Integer, Float
        case 5 | 6 => in.readLong(); i += 1 // Long, Double: two slots
        case 15 => in.readUnsignedByte(); in.readUnsignedShort() // MethodHandle
        case other => throw new IllegalArgumentException(
          s"$className: unknown constant pool tag $other at entry $i")
      }
      i += 1
    }
    val classes = mutable.Set.empty[String]
    val members = mutable.Set.empty[MemberRef]
    for (j <- 1 until count) tags(j) match {
      case Class => classes += strings(firsts(j))
      case tag @ (Fieldref | Methodref | InterfaceMethodref) =>
        val nameAndType = seconds(j)
        members += MemberRef(strings(firsts(firsts(j))), strings(firsts(nameAndType)),
          strings(seconds(nameAndType)), isField = tag == Fieldref)
      case _ =>
    }
    ClassReferences(className, classes.toSet, members.toSet, strings.filter(_ != null).toSet)
  }
}
