// Test only. localstripe's fake Stripe.js has the card element and confirmCardPayment
// (its 3-D Secure modal) but not the Payment Element's stripe.confirmPayment (nor
// confirmSetup, for a card saved for automatic payments). This adds
// it, doing what real Stripe.js does: confirm the intent with the card typed into the
// element (localstripe's confirm route below stands in for Stripe's client-side
// confirmation), authenticate with 3-D Secure when the card asks for it, then send the
// browser to the return URL with Stripe's query parameters.
(function () {
  "use strict";
  var fake = window.Stripe;
  window.Stripe = function (key) {
    var stripe = fake(key);
    var makeElements = stripe.elements;
    stripe.elements = function (options) {
      var elements = makeElements();
      elements.clientSecret = options && options.clientSecret;
      return elements;
    };
    stripe.confirmPayment = async function (params) {
      var elements = params.elements;
      var typed = elements.getElement("payment").value || { card: {} };
      var response = await fetch(LOCALSTRIPE_BASE_API + "/_config/haohuan/confirm", {
        method: "POST",
        body: JSON.stringify({ client_secret: elements.clientSecret, card: typed.card }),
      });
      var intent = await response.json();
      if (intent.error) {
        return { error: intent.error };
      }
      if (intent.status === "requires_action") {
        var result = await stripe.confirmCardPayment(elements.clientSecret);
        if (result.error) {
          return { error: result.error };
        }
        intent = result.paymentIntent;
      }
      var status = intent.status === "succeeded" ? "succeeded" : "failed";
      window.location.assign(
        params.confirmParams.return_url + "?payment_intent=" + intent.id +
          "&payment_intent_client_secret=" + elements.clientSecret + "&redirect_status=" + status
      );
      return {};
    };
    // The same for a card saved for automatic payments: the SetupIntent confirmed with
    // the typed card, then back to the return URL as Stripe sends the browser.
    stripe.confirmSetup = async function (params) {
      var elements = params.elements;
      var typed = elements.getElement("payment").value || { card: {} };
      var response = await fetch(LOCALSTRIPE_BASE_API + "/_config/haohuan/confirm_setup", {
        method: "POST",
        body: JSON.stringify({ client_secret: elements.clientSecret, card: typed.card }),
      });
      var intent = await response.json();
      if (intent.error) {
        return { error: intent.error };
      }
      var status = intent.status === "succeeded" ? "succeeded" : "failed";
      window.location.assign(
        params.confirmParams.return_url + "?setup_intent=" + intent.id +
          "&setup_intent_client_secret=" + elements.clientSecret + "&redirect_status=" + status
      );
      return {};
    };
    return stripe;
  };
})();
