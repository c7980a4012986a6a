// Apache Olingo's OData V4 client against the gateway: reads $metadata, filters, follows
// @odata.nextLink page by page, creates an event. Prints one JSON line for the test to check.
// Run: java -cp "lib/*" OlingoCheck.java <service root> <api key> <event type>
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.apache.olingo.client.api.ODataClient;
import org.apache.olingo.client.api.domain.ClientEntity;
import org.apache.olingo.client.api.domain.ClientEntitySet;
import org.apache.olingo.client.api.domain.ClientObjectFactory;
import org.apache.olingo.client.core.ODataClientFactory;
import org.apache.olingo.client.core.http.BasicAuthHttpClientFactory;
import org.apache.olingo.commons.api.edm.Edm;
import org.apache.olingo.commons.api.edm.EdmEntityType;
import org.apache.olingo.commons.api.edm.FullQualifiedName;
import org.apache.olingo.commons.api.format.ContentType;

public class OlingoCheck {
  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  public static void main(String[] args) throws Exception {
    String root = args[0], key = args[1], type = args[2];
    ODataClient client = ODataClientFactory.getClient();
    client.getConfiguration().setHttpClientFactory(new BasicAuthHttpClientFactory("bi", key));
    client.getConfiguration().setDefaultPubFormat(ContentType.JSON);

    Edm edm = client.getRetrieveRequestFactory().getMetadataRequest(root).execute().getBody();
    EdmEntityType event = edm.getEntityContainer().getEntitySet("Events").getEntityType();

    URI uri = client.newURIBuilder(root).appendEntitySetSegment("Events")
        .filter("Type eq '" + type + "'").orderBy("Time").build();
    List<String> ids = new ArrayList<>();
    int pages = 0;
    while (uri != null) {
      ClientEntitySet page =
          client.getRetrieveRequestFactory().getEntitySetRequest(uri).execute().getBody();
      for (ClientEntity e : page.getEntities()) {
        ids.add(e.getProperty("Id").getPrimitiveValue().toString());
      }
      uri = page.getNext();
      pages++;
    }

    ClientObjectFactory f = client.getObjectFactory();
    ClientEntity created = f.newEntity(new FullQualifiedName("BizEvents", "Event"));
    created.getProperties().add(f.newPrimitiveProperty("Type",
        f.newPrimitiveValueBuilder().buildString(type)));
    created.getProperties().add(f.newPrimitiveProperty("Data",
        f.newPrimitiveValueBuilder().buildString("{\"order_id\": \"o-olingo\", \"amount\": 9}")));
    URI events = client.newURIBuilder(root).appendEntitySetSegment("Events").build();
    ClientEntity answer = client.getCUDRequestFactory()
        .getEntityCreateRequest(events, created).execute().getBody();

    StringBuilder out = new StringBuilder("{");
    out.append("\"key\":").append(quote(event.getKeyPredicateNames().get(0))).append(",");
    out.append("\"time_type\":").append(quote(
        event.getStructuralProperty("Time").getType().getFullQualifiedName().toString()))
        .append(",");
    out.append("\"pages\":").append(pages).append(",\"ids\":[");
    for (int i = 0; i < ids.size(); i++) {
      out.append(i > 0 ? "," : "").append(quote(ids.get(i)));
    }
    out.append("],\"created\":")
        .append(quote(answer.getProperty("Id").getPrimitiveValue().toString()))
        .append(",\"created_key\":")
        .append(quote(answer.getProperty("PartitionKey").getPrimitiveValue().toString()))
        .append("}");
    System.out.println(out);
  }
}
