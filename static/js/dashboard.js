// The SLA dashboards' charts (Chart.js, vendored) and sortable tables. The figures come from the page
// (json_script "dashboard-data"); every number also stands in the page as a link, so the charts add
// pictures, never information that only they hold.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  const data = source ? JSON.parse(source.textContent) : null;
  const blue = "#0d6efd", green = "#198754", orange = "#fd7e14", grey = "#6c757d", red = "#dc3545";

  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return null;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new Chart(canvas, config);
  }
  function weekLabel(iso) {
    const day = new Date(iso + "T00:00:00");
    return day.toLocaleDateString(undefined, { day: "numeric", month: "short" });
  }

  if (data && data.weeks) {
    const weeks = data.weeks.map(weekLabel);
    chart("chart-flow", {
      type: "bar",
      data: {
        labels: weeks,
        datasets: [
          { label: "Filed", data: data.created, backgroundColor: blue },
          { label: "Completed", data: data.completed, backgroundColor: green },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    chart("chart-met", {
      type: "line",
      data: {
        labels: weeks,
        datasets: [
          { label: "First response", data: data.fr_met, borderColor: blue, backgroundColor: blue, spanGaps: true },
          { label: "Resolution", data: data.res_met, borderColor: green, backgroundColor: green, spanGaps: true },
          {
            label: "Target", data: weeks.map(function () { return data.target; }),
            borderColor: red, borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5,
          },
        ],
      },
      options: { scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } } },
    });
  }
  if (data && data.ages) {
    chart("chart-ages", {
      type: "bar",
      data: {
        labels: data.ages,
        datasets: [{
          label: "Open requests", data: data.age_counts,
          backgroundColor: data.ages.map(function (_, i) { return [green, blue, grey, orange, red][i] || grey; }),
        }],
      },
      options: {
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        // A bar opens the queue list of the requests it counts.
        onClick: function (_event, elements) {
          if (elements.length && data.age_links) window.location.assign(data.age_links[elements[0].index]);
        },
      },
    });
  }
  if (data && data.forecast) {
    chart("chart-forecast", {
      type: "bar",
      data: {
        labels: data.forecast.teams,
        datasets: [
          { label: "Due by the end of the week", data: data.forecast.open, backgroundColor: orange },
          { label: "Can finish this week", data: data.forecast.capacity, backgroundColor: green },
        ],
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
  if (data && data.trend) {
    chart("chart-trend", {
      type: "line",
      data: {
        labels: data.trend.labels,
        datasets: [
          { label: "First response met %", data: data.trend.fr_met, borderColor: blue, backgroundColor: blue, spanGaps: true },
          { label: "Resolution met %", data: data.trend.res_met, borderColor: green, backgroundColor: green, spanGaps: true },
        ],
      },
      options: { scales: { y: { min: 0, max: 100 } } },
    });
  }

  // Sortable tables: click a header; numbers sort by the cell's data-value, empty ("—", -1) last.
  document.querySelectorAll("table.table-sortable").forEach(function (table) {
    table.querySelectorAll("thead th[data-sort]").forEach(function (header, column) {
      header.style.cursor = "pointer";
      header.setAttribute("aria-sort", "none");
      header.addEventListener("click", function () {
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const numeric = header.dataset.sort === "number";
        const body = table.tBodies[0];
        const rows = Array.from(body.rows).filter(function (row) { return row.cells.length > column; });
        rows.sort(function (a, b) {
          const x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
          if (numeric) {
            const p = parseFloat(x), q = parseFloat(y);
            if (p < 0 && q >= 0) return 1;
            if (q < 0 && p >= 0) return -1;
            return ascending ? p - q : q - p;
          }
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
