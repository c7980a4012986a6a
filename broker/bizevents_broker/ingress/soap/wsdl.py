"""The WSDL 1.1 of the SOAP service (document/literal, wrapped), for one endpoint address."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

NS = "urn:bizevents:soap:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

OPERATIONS = (
    "PublishEvent",
    "PublishEvents",
    "GetEventStatus",
    "CreatePullSubscription",
    "FetchEvents",
    "CommitCursor",
)

SCHEMA = f"""
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="{NS}"
           targetNamespace="{NS}" elementFormDefault="qualified">
  <xs:complexType name="Event">
    <xs:sequence>
      <xs:element name="Type" type="xs:string"/>
      <xs:element name="Payload" type="xs:string"/>
      <xs:element name="Key" type="xs:string" minOccurs="0"/>
      <xs:element name="Subject" type="xs:string" minOccurs="0"/>
      <xs:element name="Id" type="xs:string" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="ReceivedEvent">
    <xs:sequence>
      <xs:element name="Id" type="xs:string"/>
      <xs:element name="Type" type="xs:string"/>
      <xs:element name="Source" type="xs:string"/>
      <xs:element name="Time" type="xs:dateTime"/>
      <xs:element name="Subject" type="xs:string" minOccurs="0"/>
      <xs:element name="Key" type="xs:string" minOccurs="0"/>
      <xs:element name="Payload" type="xs:string"/>
    </xs:sequence>
  </xs:complexType>
  <xs:element name="PublishEvent" type="tns:Event"/>
  <xs:element name="PublishEventResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="Id" type="xs:string"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="PublishEvents">
    <xs:complexType><xs:sequence>
      <xs:element name="Event" type="tns:Event" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="PublishEventsResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="Id" type="xs:string" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="GetEventStatus">
    <xs:complexType><xs:sequence>
      <xs:element name="Id" type="xs:string"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="GetEventStatusResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="Status">
        <xs:simpleType><xs:restriction base="xs:string">
          <xs:enumeration value="pending"/>
          <xs:enumeration value="relayed"/>
          <xs:enumeration value="unknown"/>
        </xs:restriction></xs:simpleType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="CreatePullSubscription">
    <xs:complexType><xs:sequence>
      <xs:element name="EventType" type="xs:string" maxOccurs="unbounded"/>
      <xs:element name="Start" type="xs:string" minOccurs="0"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="CreatePullSubscriptionResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="SubscriptionId" type="xs:string"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="FetchEvents">
    <xs:complexType><xs:sequence>
      <xs:element name="SubscriptionId" type="xs:string"/>
      <xs:element name="Session" type="xs:string" minOccurs="0"/>
      <xs:element name="Max" type="xs:int" minOccurs="0"/>
      <xs:element name="WaitSeconds" type="xs:double" minOccurs="0"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="FetchEventsResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="Batch" type="xs:string" minOccurs="0"/>
      <xs:element name="Event" type="tns:ReceivedEvent" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="CommitCursor">
    <xs:complexType><xs:sequence>
      <xs:element name="SubscriptionId" type="xs:string"/>
      <xs:element name="Batch" type="xs:string"/>
      <xs:element name="Session" type="xs:string" minOccurs="0"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="CommitCursorResponse">
    <xs:complexType><xs:sequence>
      <xs:element name="Committed" type="xs:boolean"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="GatewayFault">
    <xs:complexType><xs:sequence>
      <xs:element name="Kind" type="xs:string"/>
      <xs:element name="Message" type="xs:string"/>
      <xs:element name="Problem" minOccurs="0" maxOccurs="unbounded">
        <xs:complexType><xs:sequence>
          <xs:element name="Pointer" type="xs:string"/>
          <xs:element name="Message" type="xs:string"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>"""


def wsdl(address: str) -> str:
    messages = "".join(
        f'<wsdl:message name="{op}Request"><wsdl:part name="parameters" element="tns:{op}"/>'
        f"</wsdl:message>"
        f'<wsdl:message name="{op}Response">'
        f'<wsdl:part name="parameters" element="tns:{op}Response"/></wsdl:message>'
        for op in OPERATIONS
    )
    port_ops = "".join(
        f'<wsdl:operation name="{op}"><wsdl:input message="tns:{op}Request"/>'
        f'<wsdl:output message="tns:{op}Response"/>'
        f'<wsdl:fault name="GatewayFault" message="tns:GatewayFault"/></wsdl:operation>'
        for op in OPERATIONS
    )
    binding_ops = "".join(
        f'<wsdl:operation name="{op}"><soap:operation soapAction="{NS}#{op}" style="document"/>'
        '<wsdl:input><soap:body use="literal"/></wsdl:input>'
        '<wsdl:output><soap:body use="literal"/></wsdl:output>'
        '<wsdl:fault name="GatewayFault"><soap:fault name="GatewayFault" use="literal"/>'
        "</wsdl:fault></wsdl:operation>"
        for op in OPERATIONS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"'
        ' xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"'
        f' xmlns:tns="{NS}" targetNamespace="{NS}" name="BizEvents">'
        f"<wsdl:types>{SCHEMA}</wsdl:types>"
        f"{messages}"
        '<wsdl:message name="GatewayFault">'
        '<wsdl:part name="fault" element="tns:GatewayFault"/></wsdl:message>'
        f'<wsdl:portType name="BizEventsPort">{port_ops}</wsdl:portType>'
        '<wsdl:binding name="BizEventsBinding" type="tns:BizEventsPort">'
        '<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
        f"{binding_ops}</wsdl:binding>"
        '<wsdl:service name="BizEvents"><wsdl:port name="BizEventsPort"'
        f' binding="tns:BizEventsBinding"><soap:address location={quoteattr(address)}/>'
        "</wsdl:port></wsdl:service></wsdl:definitions>"
    )
