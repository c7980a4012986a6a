// Validates KEDA and Prometheus Operator resources (JSON array on stdin) against the schemas of
// their CRDs, as packaged by @kubernetes-models; prints one {ok, errors} per object as JSON.
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};
const objects = JSON.parse(readFileSync(0, "utf8"));
const report = objects.map((o) => {
  const Model = models[`${o.apiVersion}/${o.kind}`];
  if (!Model) return { ok: false, errors: [`no schema for ${o.apiVersion} ${o.kind}`] };
  try {
    new Model(o).validate();
    return { ok: true, errors: [] };
  } catch (e) {
    return { ok: false, errors: [String(e.message || e)] };
  }
});
console.log(JSON.stringify(report));
